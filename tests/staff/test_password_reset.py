"""Recovering a staff password: a reset link that works once, for an hour, across a key
rotation, naming nobody by address; the email that carries it goes through the outbox; and
changing your own password needs the current one."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select

from invites.core import audit
from invites.core.db import db, utcnow
from invites.core.mail import tokens
from invites.core.tokens import Tokens
from invites.delivery.models import OutboundMessage, Status
from invites.staff import Role, StaffError, StaffUser, recovery, users
from invites.staff.errors import (
    ResetLinkExpired,
    ResetLinkInvalid,
    ResetLinkUsed,
    WeakPassword,
    WrongPassword,
)

from ..support.helpers import forge, link_to, must_get, run_jobs
from ..support.smtpd import SMTPSink
from ..support.staff import PASSWORD, make_staff

NEW_PASSWORD = "a brand new passphrase"  # noqa: S105 - a test password
SENT_AT = datetime(2031, 5, 4, 12, 0, tzinfo=UTC)


def _token(app: Flask, user_id: int, t: Tokens | None = None) -> str:
    with app.app_context():
        token = recovery.reset_token(t or tokens(), must_get(StaffUser, user_id))
        db.session.remove()
    return token


def _check(app: Flask, token: str, t: Tokens | None = None) -> int:
    with app.app_context():
        user = recovery.user_for_reset(db.session, t or tokens(), token)
        db.session.remove()
        return user.id


def test_a_link_works_until_the_password_is_set_and_then_never_again(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    token = _token(app, mia_id)
    assert _check(app, token) == mia_id
    assert _check(app, token) == mia_id  # opening the page twice is fine: nothing changed
    with app.app_context():
        mia = must_get(StaffUser, mia_id)
        before = mia.session_token
        recovery.reset_password(db.session, mia, NEW_PASSWORD, actor=mia, via="link", now=utcnow())
        db.session.commit()
        assert mia.session_token != before  # every session of hers ended
        assert users.check_password(db.session, "mia@example.com", NEW_PASSWORD, now=utcnow())
        db.session.rollback()
    with pytest.raises(ResetLinkUsed, match="used already"):
        _check(app, token)
    # Even a reset to the very same password makes a new (salted) hash: the link is spent.
    second = _token(app, mia_id)
    with app.app_context():
        mia = must_get(StaffUser, mia_id)
        recovery.reset_password(db.session, mia, NEW_PASSWORD, actor=mia, via="link", now=utcnow())
        db.session.commit()
    with pytest.raises(ResetLinkUsed):
        _check(app, second)


def test_signing_in_or_being_disabled_spends_a_link(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    token = _token(app, mia_id)
    with app.app_context():
        users.record_sign_in(db.session, must_get(StaffUser, mia_id), now=utcnow())
        db.session.commit()
    with pytest.raises(ResetLinkUsed):
        _check(app, token)  # she remembered it: the link someone may have seen is dead
    token = _token(app, mia_id)
    with app.app_context():
        users.disable(db.session, must_get(StaffUser, mia_id), actor=None, now=utcnow())
        db.session.commit()
    with pytest.raises(ResetLinkUsed):
        _check(app, token)


def test_a_link_works_for_one_hour(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    with time_machine.travel(SENT_AT, tick=False) as clock:
        token = _token(app, mia_id)
        clock.move_to(SENT_AT + timedelta(seconds=3600))
        assert _check(app, token) == mia_id
        clock.move_to(SENT_AT + timedelta(seconds=3602))
        with pytest.raises(ResetLinkExpired, match="one hour"):
            _check(app, token)


def test_a_link_survives_a_key_rotation(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    token = _token(app, mia_id, Tokens("the-old-key-" * 3))
    rotated = Tokens("the-new-key-" * 3, ("the-old-key-" * 3,))
    assert _check(app, token, rotated) == mia_id
    with pytest.raises(ResetLinkInvalid):
        _check(app, token, Tokens("the-new-key-" * 3))  # the old key dropped: no longer


def test_tampered_cut_or_other_purpose_links_are_refused(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    token = _token(app, mia_id)
    with app.app_context():
        mia = must_get(StaffUser, mia_id)
        payload = f"{mia.id}.{recovery.account_state(mia)}"
        # The same value signed for another purpose (an invitation's accept link, say).
        other = tokens().make("accept", payload)
    for bad in (forge(token), token[:-3], other, "", "x" * 600, "no.such.token"):
        with pytest.raises(ResetLinkInvalid):
            _check(app, bad)


def test_the_token_names_no_address(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    token = _token(app, mia_id)
    body = token.split(".")[0]
    decoded = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    value = json.loads(decoded)
    assert value.startswith(f"{mia_id}.") and "@" not in value and "mia" not in token


def test_the_reset_email_goes_through_the_outbox(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    boss_id = make_staff(smtp_app, "boss@example.com", Role.ADMIN)
    mia_id = make_staff(smtp_app, "mia@example.com")
    with smtp_app.app_context():
        boss, mia = must_get(StaffUser, boss_id), must_get(StaffUser, mia_id)
        msg = recovery.send_reset_link(db.session, mia, actor=boss, now=utcnow(), ip="192.0.2.1")
        db.session.commit()
        # Queued: the row knows whom and in which state, but holds no link and no address.
        row = must_get(OutboundMessage, msg.id)
        assert row.kind == "staff" and row.to_email is None and row.status == Status.PENDING
        assert "/console/reset/" not in (row.context or "") and "@" not in (row.context or "")
        event = audit.events_for(db.session, "staff_user", mia_id)[0]
        assert (event.action, event.actor, event.ip) == (
            "staff.password_reset_sent",
            f"staff #{boss_id}",
            "192.0.2.1",
        )
        db.session.remove()
    run_jobs(smtp_app)
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["mia@example.com"]
    assert mail.message["Subject"] == "Set a new password for the SpotCam console"
    assert mail.message["From"] == smtp_app.config["SETTINGS"].mail_from_service
    assert "List-Unsubscribe" not in mail.message  # service mail
    path = link_to(mail, "/console/reset/")
    assert mail.html is not None and path in mail.html
    assert _check(smtp_app, path.removeprefix("/console/reset/")) == mia_id
    with smtp_app.app_context():
        assert must_get(OutboundMessage, msg.id).status == Status.SENT


def test_a_link_overtaken_before_it_is_sent_is_not_sent(
    smtp_app: Flask, smtp_sink: SMTPSink
) -> None:
    mia_id = make_staff(smtp_app, "mia@example.com")
    with smtp_app.app_context():
        mia = must_get(StaffUser, mia_id)
        msg = recovery.send_reset_link(db.session, mia, actor=None, now=utcnow())
        users.record_sign_in(db.session, mia, now=utcnow())  # she remembered it meanwhile
        db.session.commit()
        msg_id = msg.id
    run_jobs(smtp_app)
    with smtp_app.app_context():
        row = must_get(OutboundMessage, msg_id)
        assert row.status == Status.CANCELLED and "changed" in (row.last_error or "")
    assert smtp_sink.messages == []


def test_no_link_for_a_disabled_account(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    with app.app_context():
        mia = must_get(StaffUser, mia_id)
        users.disable(db.session, mia, actor=None, now=utcnow())
        db.session.commit()
        with pytest.raises(StaffError, match="enable the account first"):
            recovery.send_reset_link(db.session, mia, actor=None, now=utcnow())
        db.session.rollback()
        assert db.session.scalars(select(OutboundMessage)).all() == []


def test_changing_your_password_needs_the_current_one(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    with app.app_context():
        mia = must_get(StaffUser, mia_id)
        token, hashed = mia.session_token, mia.password_hash
        with pytest.raises(WrongPassword):
            recovery.change_password(db.session, mia, "not it at all", NEW_PASSWORD, now=utcnow())
        db.session.commit()  # the refusal is recorded
        with pytest.raises(WeakPassword):
            recovery.change_password(db.session, mia, PASSWORD, "short", now=utcnow())
        db.session.rollback()
        mia = must_get(StaffUser, mia_id)
        assert (mia.session_token, mia.password_hash) == (token, hashed)
        recovery.change_password(db.session, mia, PASSWORD, NEW_PASSWORD, now=utcnow(), ip="::1")
        db.session.commit()
        assert mia.session_token != token
        assert users.check_password(db.session, "mia@example.com", NEW_PASSWORD, now=utcnow())
        events = audit.events_for(db.session, "staff_user", mia_id)
        assert [e.action for e in events][:2] == [
            "staff.password_changed",
            "staff.password_change_failed",
        ]
        kept = " ".join(f"{e.detail}" for e in events)
        assert NEW_PASSWORD not in kept and PASSWORD not in kept and "not it" not in kept
