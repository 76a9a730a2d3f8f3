"""Every surface survives a database that dropped its connections (a restart or a failover),
and so does a worker's job.

Each request runs right after `pg_terminate_backend` killed every pooled connection: before,
the first request of each process answered 500, and a one-click unsubscribe or a removal was
lost while the queued mail still went out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from invites.accounts import contacts
from invites.accounts.models import Contact, Preference
from invites.core import queue
from invites.core.db import db, utcnow
from invites.core.mail import tokens
from invites.core.models import Suppression
from invites.delivery.worker import make_worker
from invites.invitations.models import Invitation

from ..support.helpers import auth, invite, new_key, terminate_backends

pytestmark = pytest.mark.postgresql


@pytest.fixture()
def story(app: Flask) -> dict[str, Any]:
    """A contact who gets promotions and an invitation, with their link tokens and a key."""
    key = new_key(app, ["invitations", "contacts", "messages", "events", "stats"])
    client = app.test_client()
    assert invite(client, key, "friend@example.com").status_code == 202
    with app.app_context():
        contact, _ = contacts.upsert(
            db.session, "u-1", "fan@example.com", "en", "Fan", app.config["SETTINGS"], utcnow()
        )
        db.session.commit()
        inv = db.session.scalars(db.select(Invitation)).one()
        t = tokens()
        return {
            "key": key,
            "client": client,
            "remove": "/r/" + t.make("remove", inv.public_id),
            "prefs": "/p/" + t.make("preferences", f"{contact.public_id}:promotional"),
        }


def _after_failover(app: Flask, client: FlaskClient, call: Callable[[], Any]) -> Any:
    client.get("/readyz")  # the pool holds a connection now
    assert terminate_backends(app.config["SQLALCHEMY_DATABASE_URI"]) >= 1
    return call()


def test_a_one_click_unsubscribe_survives(app: Flask, story: dict[str, Any]) -> None:
    client = story["client"]
    resp = _after_failover(
        app, client, lambda: client.post(story["prefs"], data={"List-Unsubscribe": "One-Click"})
    )

    assert resp.status_code == 200, resp.get_data(as_text=True)
    with app.app_context():
        pref = db.session.scalars(db.select(Preference)).one()
        assert (pref.category, pref.granted) == ("promotional", False)


def test_a_one_click_removal_survives(app: Flask, story: dict[str, Any]) -> None:
    client = story["client"]
    resp = _after_failover(
        app, client, lambda: client.post(story["remove"], data={"List-Unsubscribe": "One-Click"})
    )

    assert resp.status_code == 200, resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(db.select(Invitation.email_sealed)).one() is None
        assert db.session.scalars(db.select(Suppression.reason)).all() == ["removed"]


@pytest.mark.parametrize("path", ["remove", "prefs"])
def test_the_pages_survive(app: Flask, story: dict[str, Any], path: str) -> None:
    client = story["client"]
    resp = _after_failover(app, client, lambda: client.get(story[path]))

    assert resp.status_code == 200


def test_the_api_survives(app: Flask, story: dict[str, Any]) -> None:
    client, h = story["client"], auth(story["key"])
    calls: list[tuple[Callable[[], Any], int]] = [
        (
            lambda: client.put(
                "/api/v1/contacts/u-2", json={"email": "b@example.com", "locale": "en"}, headers=h
            ),
            201,
        ),
        (lambda: client.get("/api/v1/contacts/u-1", headers=h), 200),
        (
            lambda: client.put(
                "/api/v1/contacts/u-1/preferences",
                json={"partner_offers": True, "source": "app"},
                headers=h,
            ),
            200,
        ),
        (
            lambda: client.post(
                "/api/v1/messages",
                json={"user_id": "u-1", "template": "account_welcome", "context": {"name": "F"}},
                headers=h,
            ),
            202,
        ),
        (
            lambda: client.post(
                "/api/v1/events",
                json={"email": "gone@example.com", "type": "hard_bounce"},
                headers=h,
            ),
            202,
        ),
        (lambda: client.get("/api/v1/stats/invitations", headers=h), 200),
        (lambda: client.delete("/api/v1/contacts/u-2", headers=h), 204),
    ]
    for call, expected in calls:
        resp = _after_failover(app, client, call)
        assert resp.status_code == expected, resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(db.select(Contact.user_id)).all() == ["u-1"]


def test_a_job_that_meets_a_dead_connection_runs_once_more_and_the_next_one_works(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    # An in-process worker, busy: the first job cuts every connection (as a failover would
    # while jobs run back to back), so the next one meets a dead pooled connection. Before,
    # it failed with OperationalError and every later job with PendingRollbackError.
    url = app.config["SETTINGS"].database_url
    with app.app_context():
        q = queue.queue(queue.MAIL_QUEUE)
        cut = q.enqueue("tests.support.helpers.terminate_backends", url)
        met = q.enqueue("invites.campaigns.jobs.campaign_tick")
        after = q.enqueue("invites.campaigns.jobs.campaign_tick")
        with caplog.at_level(logging.WARNING):
            make_worker([queue.MAIL_QUEUE], simple=True).work(burst=True)
        assert cut.get_status(refresh=True) == "finished"
        assert int(cut.return_value() or 0) >= 1  # the worker's pooled connection among them
        assert met.get_status(refresh=True) == "finished"  # on its second run
        assert met.get_meta(refresh=True) == {"reconnected": 1}
        assert after.get_status(refresh=True) == "finished"
        assert after.get_meta(refresh=True) == {}  # it met a live pool the first time
    assert f"job {met.id} met a dead database connection; queued once more" in caplog.text
