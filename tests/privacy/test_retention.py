"""The retention jobs erase what the processing register says, when it says, and log counts."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from invites.core.addresses import address_hash
from invites.core.db import db, utcnow
from invites.core.models import ApiKey, IdempotencyRecord
from invites.feedback.models import SoftBounceCount
from invites.invitations.models import AddressThrottle, Invitation
from invites.privacy import register

from ..support.helpers import all_database_text, invite, make_app, new_key, run_jobs

ADDRESSES = ("old@example.com", "young@example.com", "removed@example.com")


def _short(app: Flask) -> Flask:
    """The app with periods much shorter than the defaults, on the same clean tables."""
    return make_app(
        dataclasses.replace(
            app.config["SETTINGS"],
            invitation_window_days=3,
            removal_link_days=30,
            invite_address_window_days=5,
            soft_bounce_window_days=2,
        )
    )


def _age(app: Flask) -> dict[str, int]:
    """Three invitations: one 4 days old, one 2 days old, one removed 31 days ago; return
    address → invitation id."""
    key = new_key(app, ["invitations"])
    client = app.test_client()
    for email in ADDRESSES:
        assert invite(client, key, email, note="a note").status_code == 202
    run_jobs(app)
    now = utcnow()
    hashes = {e: address_hash(e, app.config["SETTINGS"].address_hash_key) for e in ADDRESSES}
    with app.app_context():
        for email, days in (("old@example.com", 4), ("young@example.com", 2)):
            db.session.execute(
                update(Invitation)
                .where(Invitation.email_hash == hashes[email])
                .values(created_at=now - timedelta(days=days))
            )
            db.session.execute(
                update(AddressThrottle)
                .where(AddressThrottle.email_hash == hashes[email])
                .values(invited_at=now - timedelta(days=days + 2))
            )
        db.session.execute(
            update(Invitation)
            .where(Invitation.email_hash == hashes["removed@example.com"])
            .values(
                status="removed",
                email_sealed=None,
                inviter_name=None,
                note=None,
                closed_at=now - timedelta(days=31),
                created_at=now - timedelta(days=32),
            )
        )
        db.session.commit()
        ids = {
            email: db.session.scalar(select(Invitation.id).where(Invitation.email_hash == h))
            for email, h in hashes.items()
        }
        db.session.remove()
    return {email: found for email, found in ids.items() if found is not None}


def _state(app: Flask, ids: dict[str, int]) -> dict[str, tuple[str, bool, bool]]:
    """address → (status, address still held, keyed hash still held)."""
    with app.app_context():
        found = {
            email: (inv.status, inv.email is not None, inv.email_hash is not None)
            for email, inv in ((e, db.session.get(Invitation, i)) for e, i in ids.items())
            if inv is not None
        }
        db.session.remove()
    return found


def test_expiry_erases_what_the_register_says_and_logs_only_counts(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    short = _short(app)
    ids = _age(short)
    assert len(ids) == 3
    caplog.set_level(logging.INFO, logger="invites.invitations.jobs")
    with short.app_context():
        from invites.invitations.jobs import expire_invitations

        assert expire_invitations() == 1
        throttled = set(db.session.scalars(select(AddressThrottle.email_hash)))
        db.session.remove()
    # 4 days > INVITATION_WINDOW_DAYS=3: erased (its hash stays while its removal link works);
    # 2 days: kept; the hash of the invitation closed 31 days ago > REMOVAL_LINK_DAYS=30: gone.
    assert _state(short, ids) == {
        "old@example.com": ("expired", False, True),
        "young@example.com": ("sent", True, True),
        "removed@example.com": ("removed", False, False),
    }
    # Invited 6 days ago > INVITE_ADDRESS_WINDOW_DAYS=5: forgotten; 4 days ago: kept.
    key = short.config["SETTINGS"].address_hash_key
    assert address_hash("old@example.com", key) not in throttled
    assert address_hash("young@example.com", key) in throttled
    stored = all_database_text(short)
    assert "old@example.com" not in stored and "young@example.com" in stored
    [line] = [r.getMessage() for r in caplog.records if r.name == "invites.invitations.jobs"]
    assert line == (
        "retention: 1 invitation(s) past 3 days closed and erased; 1 removal-link hash(es) "
        "past 30 days erased; 1 address throttle(s) past 5 days forgotten"
    )
    assert "@" not in caplog.text
    caplog.clear()
    with short.app_context():
        assert expire_invitations() == 0
        db.session.remove()
    assert caplog.records == []  # an hour with nothing to erase says nothing


def test_the_scheduler_enqueues_the_register_jobs_and_a_worker_runs_them(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    from invites.delivery.worker import make_scheduler

    short = _short(app)
    ids = _age(short)
    new_key(short, ["invitations"])
    now = utcnow()
    with short.app_context():
        db.session.add(SoftBounceCount(email_hash="a" * 64, window_start=now, count=1))
        db.session.add(
            SoftBounceCount(email_hash="b" * 64, window_start=now - timedelta(days=3), count=2)
        )
        for name, hours in (("fresh", 1), ("stale", 25)):
            db.session.add(
                IdempotencyRecord(
                    api_key_id=db.session.scalars(select(ApiKey.id)).first(),
                    key=name,
                    request_hash="0" * 64,
                    status_code=202,
                    body="{}",
                    created_at=now - timedelta(hours=hours),
                )
            )
        db.session.commit()
        enqueued = {job.func_name for job in make_scheduler().enqueue_jobs()}
        db.session.remove()
    assert set(register.jobs()) <= enqueued
    caplog.set_level(logging.INFO, logger="invites")
    run_jobs(short)  # a real (burst) worker runs what the scheduler enqueued
    with short.app_context():
        assert db.session.scalars(select(SoftBounceCount.email_hash)).all() == ["a" * 64]
        assert db.session.scalars(select(IdempotencyRecord.key)).all() == ["fresh"]
        db.session.remove()
    assert _state(short, ids)["old@example.com"] == ("expired", False, True)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retention:")]
    assert "retention: 1 soft-bounce count(s) past 2 days forgotten" in lines
    assert any(line.startswith("retention: 1 invitation(s) past 3 days") for line in lines)
    assert any("idempotency answer(s) past 24 hours forgotten" in line for line in lines)
    assert not any("@" in line for line in lines)
