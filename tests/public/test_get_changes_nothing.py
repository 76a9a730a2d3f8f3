"""Nothing changes state on a GET or HEAD: every such route, with a valid and an invalid token
or id, runs no INSERT, UPDATE or DELETE. Mail scanners fetch every link in every message.

The routes come from the app's URL map, so a new page is covered the day it is added: one
whose parameters this file can't fill fails here until it says how to build them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from invites.accounts import contacts
from invites.core.config import Settings
from invites.core.db import db, utcnow
from invites.core.mail import tokens
from invites.datarequests import corrections, flow
from invites.invitations.models import Invitation
from invites.staff import StaffUser, recovery

from ..support.campaigns import make_campaign
from ..support.helpers import auth, invite, make_app, must_get, new_key, run_jobs
from ..support.staff import make_staff

WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|ALTER|CREATE|DROP)\b", re.I)
SCOPES = ["invitations", "stats", "contacts", "messages", "events"]


@pytest.fixture()
def dev_app(app: Flask, settings: Settings) -> Flask:
    """A development app (the outbox pages exist), on the `app` fixture's clean tables."""
    return make_app(dataclasses.replace(settings, env="development", smtp_url=None))


def _world(app: Flask) -> dict[str, Any]:
    """One of everything a link or an id can name: an invitation, a contact, a message."""
    key = new_key(app, SCOPES)
    client = app.test_client()
    assert invite(client, key, "friend@example.com").status_code == 202
    run_jobs(app)  # the outbox now holds the invitation email
    resp = client.post(
        "/api/v1/messages",
        json={"email": "x@example.com", "template": "account_welcome", "context": {"name": "X"}},
        headers=auth(key),
    )
    message_id = resp.get_json()["id"]
    staff_id = make_staff(app, "staff@example.com")
    with app.app_context():
        contact, _ = contacts.upsert(
            db.session, "u-1", "fan@example.com", "en", "Fan", app.config["SETTINGS"], utcnow()
        )
        asked = flow.start(
            db.session, "fan@example.com", app.config["SETTINGS"], utcnow(), locale="en"
        )
        change = corrections.ask_address_change(
            db.session, contact, "fan.new@example.com", "en", utcnow()
        )
        db.session.commit()
        inv = db.session.scalars(db.select(Invitation)).one()
        t = tokens()
        from mailer import list_outbox

        [entry] = list_outbox(app.config["OUTBOX_PATH"])[:1]
        found = {
            "key": key,
            "accept": t.make("accept", inv.public_id),
            "remove": t.make("remove", inv.public_id),
            "prefs": t.make("preferences", f"{contact.public_id}:promotional"),
            "message_id": message_id,
            "user_id": "u-1",
            "inviter_id": "user-1",
            "entry_id": entry.id,
            **_policy_version(),
            "reset": recovery.reset_token(t, must_get(StaffUser, staff_id)),
            "data_request": flow.link_token(t, asked),
            "address_change": corrections.change_token(t, change),
        }
        db.session.remove()
    return {**found, "campaign_id": str(make_campaign(app))}


def _policy_version() -> dict[str, str]:
    """The policy version every migrated database holds (migration 0011)."""
    from invites.privacy import versions

    current = versions.in_force(db.session, versions.today())
    assert current is not None
    return {"policy_label": current.label, "version_id": str(current.id)}


#: How to fill each route's parameters: (valid, invalid), by endpoint, then by name.
def _by_endpoint(w: dict[str, Any]) -> dict[str, dict[str, tuple[str, str]]]:
    bad = "not-a-token"
    return {
        "pages.accept_page": {"token": (w["accept"], bad)},
        "pages.remove_page": {"token": (w["remove"], bad)},
        "pages.removed": {"token": (w["remove"], bad)},
        "preferences.show": {"token": (w["prefs"], bad)},
        "console.reset.show": {"token": (w["reset"], bad)},
        "data_requests.link_page": {"token": (w["data_request"], bad)},
        "data_requests.address_page": {"token": (w["address_change"], bad)},
    }


def _by_name(w: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        "message_id": (w["message_id"], "nope"),
        "campaign_id": (w["campaign_id"], "999999"),
        "locale": ("en", "xx"),
        "user_id": (w["user_id"], "nobody"),
        "inviter_id": (w["inviter_id"], "nobody"),
        "entry_id": (w["entry_id"], "..%2fsecret"),
        "filename": ("nothing.css", "..%2f..%2fetc%2fpasswd"),
        "label": (w["policy_label"], "no-such-version"),
        "version_id": (w["version_id"], "999999"),
    }


def _urls(app: Flask, w: dict[str, Any]) -> Iterator[tuple[str, str]]:
    per_endpoint, per_name = _by_endpoint(w), _by_name(w)
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()):
            continue
        values: dict[str, tuple[str, str]] = {}
        for name in rule.arguments:
            found = per_endpoint.get(rule.endpoint, {}).get(name) or per_name.get(name)
            if found is None:
                raise AssertionError(
                    f"{rule.rule}: add a valid and an invalid {name!r} to this test"
                )
            values[name] = found
        for which in (0, 1):
            path = rule.rule
            for name, pair in values.items():
                path = re.sub(rf"<(?:[^:<>]+:)?{name}>", pair[which], path)
            yield rule.endpoint, path
            if not values:
                break


def _watch(app: Flask) -> tuple[list[str], Callable[[], None]]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if WRITES.match(statement):
            seen.append(statement.split("\n")[0][:120])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    return seen, lambda: event.remove(engine, "before_cursor_execute", before)


def test_no_get_or_head_writes_anything(dev_app: Flask) -> None:
    world = _world(dev_app)
    client = dev_app.test_client()
    seen, stop = _watch(dev_app)
    called: list[str] = []
    try:
        for endpoint, path in _urls(dev_app, world):
            for method in ("GET", "HEAD"):
                resp = client.open(path, method=method, headers=auth(world["key"]))
                assert resp.status_code < 500, (method, path, resp.status_code)
                assert not seen, f"{method} {path} ({endpoint}) wrote: {seen}"
            called.append(endpoint)
    finally:
        stop()
    # The table above really reached the link pages, the API and the outbox pages.
    for endpoint in (
        "pages.remove_page",
        "preferences.show",
        "api.api_messages.status",
        "dev.raw",
        "privacy_pages.policy",
    ):
        assert endpoint in called
