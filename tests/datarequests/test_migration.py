"""Migration 0013 builds exactly the tables the models describe, and allows the new role."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy.exc import IntegrityError

from invites.core.db import db
from invites.staff import Role

from ..support.staff import make_staff


def test_the_migration_matches_the_models(app: Flask) -> None:
    ours = ("data_requests", "address_changes")
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [
            d for d in compare_metadata(context, db.metadata) if any(n in repr(d) for n in ours)
        ]
    assert diff == []


def test_the_database_takes_the_privacy_role_and_no_made_up_one(app: Flask) -> None:
    assert make_staff(app, "support@spotcam.example", Role.PRIVACY) > 0
    with app.app_context(), pytest.raises(IntegrityError):
        db.session.execute(
            db.text(
                "INSERT INTO staff_users (email, email_hash, password_hash, role, session_token, "
                "created_at) VALUES ('x', 'x', 'x', 'superuser', 'x', CURRENT_TIMESTAMP)"
            )
        )
        db.session.commit()
