"""Consents name the policy version they were given under; a change to partner sharing stops
partner offers to everyone who consented under an earlier version, until they consent again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from invites.accounts import contacts, eligibility
from invites.accounts import mail as messages
from invites.accounts.models import ConsentEvent, Contact, Preference
from invites.core.db import db, utcnow
from invites.delivery.jobs import deliver_message
from invites.delivery.models import OutboundMessage
from invites.privacy import consent, versions

from ..support.helpers import auth, new_key
from ..support.policy import INITIAL, begin_archive, publish
from ..support.smtpd import SMTPSink

PROBLEM = "application/problem+json"


def _contact(client: FlaskClient, key: str, user_id: str, email: str) -> None:
    body = {"email": email, "locale": "en", "name": user_id}
    assert (
        client.put(f"/api/v1/contacts/{user_id}", json=body, headers=auth(key)).status_code == 201
    )


def _grant(client: FlaskClient, key: str, user_id: str, **extra: object) -> object:
    body = {"partner_offers": True, "source": "app", **extra}
    return client.put(f"/api/v1/contacts/{user_id}/preferences", json=body, headers=auth(key))


def _log(client: FlaskClient, key: str, user_id: str) -> list[tuple[str, bool, str | None]]:
    found = client.get(f"/api/v1/contacts/{user_id}/consents", headers=auth(key)).get_json()
    return [(e["category"], e["granted"], e["policy_version"]) for e in found["events"]]


def test_a_consent_names_a_published_version_or_records_the_one_in_force(app: Flask) -> None:
    publish(app, "2027-01", 40, material=True)  # published today, upcoming
    client, key = app.test_client(), new_key(app, ["contacts"])
    _contact(client, key, "u-1", "ann@example.com")
    refused = _grant(client, key, "u-1", policy_version="2099-01")
    assert refused.status_code == 422 and refused.mimetype == PROBLEM  # type: ignore[attr-defined]
    [error] = refused.get_json()["errors"]  # type: ignore[attr-defined]
    assert error["field"] == "policy_version" and "not a published" in error["message"]
    assert _log(client, key, "u-1") == []  # nothing was written
    assert _grant(client, key, "u-1").status_code == 200  # type: ignore[attr-defined]
    # The same consent again under the same version is not news; under another one it is.
    assert _grant(client, key, "u-1", policy_version=INITIAL).status_code == 200  # type: ignore[attr-defined]
    assert _grant(client, key, "u-1", policy_version="2027-01").status_code == 200  # type: ignore[attr-defined]
    assert _log(client, key, "u-1") == [
        ("partner_offers", True, INITIAL),
        ("partner_offers", True, "2027-01"),
    ]
    with app.app_context():
        [pref] = db.session.scalars(select(Preference)).all()
        assert (pref.category, pref.granted, pref.policy_version) == (
            "partner_offers",
            True,
            "2027-01",
        )
        db.session.remove()


def test_a_draft_is_no_version_to_consent_under(app: Flask) -> None:
    from invites.privacy import publishing

    from ..support.policy import admin, draft

    with app.app_context():
        settings = app.config["SETTINGS"]
        publishing.create(
            db.session,
            draft("2027-02", utcnow().date() + timedelta(days=3)),
            settings,
            admin(app),
            utcnow(),
        )
        db.session.commit()
        db.session.remove()
    client, key = app.test_client(), new_key(app, ["contacts"])
    _contact(client, key, "u-1", "ann@example.com")
    assert _grant(client, key, "u-1", policy_version="2027-02").status_code == 422  # type: ignore[attr-defined]


def _partner_offer(app: Flask, user_id: str) -> int:
    with app.app_context():
        contact = db.session.scalar(select(Contact).where(Contact.user_id == user_id))
        assert contact is not None
        msg = messages.queue_marketing(
            db.session,
            contact,
            "partner_offers",
            subject="An offer from Acme",
            body_html="<p>Acme</p>",
            body_text="Acme",
            now=utcnow(),
        )
        db.session.commit()
        msg_id = msg.id
        db.session.remove()
    return msg_id


def _may_get_partner_offers(app: Flask, user_id: str) -> bool:
    with app.app_context():
        contact = db.session.scalar(select(Contact).where(Contact.user_id == user_id))
        assert contact is not None
        settings = app.config["SETTINGS"]
        blocked = eligibility.blocked(db.session, contact, "partner_offers", settings)
        state = contacts.current(db.session, contact, settings)["partner_offers"]
        assert state is (blocked is None)
        db.session.remove()
    return blocked is None


def test_a_partner_sharing_change_stops_old_consents_when_it_takes_effect(
    smtp_app: Flask, smtp_sink: SMTPSink
) -> None:
    app = smtp_app
    begin_archive(app, 60)
    client, key = app.test_client(), new_key(app, ["contacts"])
    for user_id in ("old", "renewed"):
        _contact(client, key, user_id, f"{user_id}@example.com")
        assert _grant(client, key, user_id).status_code == 200  # type: ignore[attr-defined]
    publish(app, "2027-01", 31, partner=True)
    # Published, not yet in force: both consents still count.
    assert _may_get_partner_offers(app, "old") and _may_get_partner_offers(app, "renewed")
    day = datetime.combine(utcnow().date() + timedelta(days=31), datetime.min.time(), tzinfo=UTC)
    with time_machine.travel(day + timedelta(hours=1), tick=True):
        assert not _may_get_partner_offers(app, "old")
        assert not _may_get_partner_offers(app, "renewed")
        with app.app_context():
            why = consent.sharing_change_against(db.session, INITIAL, versions.today())
            assert why is not None and why.label == "2027-01"
            db.session.remove()
        # Consenting again records the version now in force, and counts.
        assert _grant(client, key, "renewed").status_code == 200  # type: ignore[attr-defined]
        assert _log(client, key, "renewed")[-1] == ("partner_offers", True, "2027-01")
        assert _may_get_partner_offers(app, "renewed") and not _may_get_partner_offers(app, "old")
        # The send path decides at send time: only the renewed consent gets the offer.
        old_msg, renewed_msg = _partner_offer(app, "old"), _partner_offer(app, "renewed")
        with app.app_context():  # the delivery job, in the process whose clock is moved
            for msg_id in (old_msg, renewed_msg):
                deliver_message(msg_id)
                db.session.remove()
        [mail] = smtp_sink.wait_for(1)
        assert mail.rcpt_tos == ["renewed@example.com"]
        with app.app_context():
            old = db.session.get(OutboundMessage, old_msg)
            renewed = db.session.get(OutboundMessage, renewed_msg)
            assert old is not None and renewed is not None
            assert (old.status, old.last_error) == (
                "cancelled",
                "contact does not receive partner_offers email",
            )
            assert renewed.status == "sent"
            events = db.session.scalars(select(ConsentEvent.policy_version)).all()
            assert sorted(e or "" for e in events) == [INITIAL, INITIAL, "2027-01"]
            db.session.remove()


def test_an_unknown_or_missing_version_counts_as_earlier_than_every_change(app: Flask) -> None:
    begin_archive(app, 60)
    publish(app, "2027-01", 0, published_days_ago=40, partner=True)  # in force today
    with app.app_context():
        on = versions.today()
        for label in (None, "a-label-we-never-published", INITIAL):
            assert consent.sharing_change_against(db.session, label, on) is not None, label
        assert consent.sharing_change_against(db.session, "2027-01", on) is None
        db.session.remove()
