"""The audit log: events about a thing, newest first; on PostgreSQL nobody can change one."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from invites.core import audit
from invites.core.audit import AuditEvent
from invites.core.db import db
from invites.staff import Role, StaffUser

from ..support.staff import make_staff


def test_events_about_one_thing_newest_first(app: Flask) -> None:
    boss_id = make_staff(app, "boss@example.com", Role.ADMIN)
    start = datetime(2026, 12, 1, 12, 0)
    with app.app_context():
        boss = db.session.get(StaffUser, boss_id)
        for minutes, action in ((0, "campaign.create"), (5, "campaign.send"), (1, "campaign.edit")):
            audit.record(
                db.session,
                actor=boss,
                action=action,
                target_type="campaign",
                target_id=7,
                detail={"subject_changed": True},
                ip="192.0.2.1",
                now=start + timedelta(minutes=minutes),
            )
        audit.record(
            db.session,
            actor=None,
            action="campaign.send",
            target_type="campaign",
            target_id="8",
            now=start,
        )
        db.session.commit()
        events = audit.events_for(db.session, "campaign", 7)
        assert [e.action for e in events] == ["campaign.send", "campaign.edit", "campaign.create"]
        first = events[0]
        assert (first.actor_id, first.actor, first.target_id, first.ip) == (
            boss_id,
            f"staff #{boss_id}",  # the account, not its address (kept only sealed)
            "7",
            "192.0.2.1",
        )
        assert first.details == {"subject_changed": True}
        [other] = audit.events_for(db.session, "campaign", "8")
        assert other.actor is None and other.actor_id is None and other.details == {}


def test_the_migration_creates_what_the_models_declare(app: Flask) -> None:
    ours = {"staff_users", "audit_events", "staff_recovery_codes"}
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [
            d
            for d in compare_metadata(context, db.metadata)
            if any(name in repr(d) for name in ours)
        ]
    assert diff == []


def _one_event(app: Flask) -> tuple[int, int]:
    boss_id = make_staff(app, "boss@example.com", Role.ADMIN)
    with app.app_context():
        boss = db.session.get(StaffUser, boss_id)
        event = audit.record(
            db.session,
            actor=boss,
            action="api_key.revoked",
            target_type="api_key",
            target_id="ab12cd34",
        )
        db.session.commit()
        return boss_id, event.id


@pytest.mark.postgresql
def test_postgresql_refuses_to_change_or_delete_an_event(app: Flask) -> None:
    _boss_id, event_id = _one_event(app)
    with app.app_context():
        before = db.session.scalars(db.select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert len(before) == 2  # the staff user's creation, and the revocation
        for statement in (
            update(AuditEvent).where(AuditEvent.id == event_id).values(action="nothing"),
            update(AuditEvent).values(actor_id=None, action="nothing"),
            delete(AuditEvent).where(AuditEvent.id == event_id),
            text("DELETE FROM audit_events"),
        ):
            with pytest.raises(DBAPIError, match="audit_events is append-only"):
                db.session.execute(statement)
            db.session.rollback()
        after = db.session.scalars(db.select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert after == before


@pytest.mark.postgresql
def test_postgresql_lets_a_deleted_actor_become_null_and_keeps_the_name(app: Flask) -> None:
    boss_id, event_id = _one_event(app)
    with app.app_context():
        # Staff users are only ever disabled; if a row is deleted by hand, the foreign key's
        # SET NULL is the one change the trigger lets through.
        db.session.execute(delete(StaffUser).where(StaffUser.id == boss_id))
        db.session.commit()
        kept = db.session.get(AuditEvent, event_id)
        assert kept is not None
        assert (kept.actor_id, kept.actor, kept.action) == (
            None,
            f"staff #{boss_id}",
            "api_key.revoked",
        )
