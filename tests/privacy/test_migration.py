"""Migration 0011 on a database that already holds consents: the version they name gets an
entry in the archive, and each current choice learns the version it was made under."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import make_url, text

from invites import create_app
from invites.core import dbsetup
from invites.core.config import Settings
from invites.core.db import db

from ..support.helpers import _admin, is_postgresql


@pytest.fixture()
def empty_database(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """A database of the suite's kind with nothing in it yet."""
    given = os.environ.get("DATABASE_URL")
    if not is_postgresql(given):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    assert given is not None
    name = f"spotcam_migration_{os.getpid()}"
    _admin(given, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    yield make_url(given).set(database=name).render_as_string(hide_password=False)
    _admin(given, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_upgrade_archives_the_configured_version_and_dates_each_choice(
    settings: Settings, empty_database: str
) -> None:
    from invites.core.config import database_url

    url = database_url("DATABASE_URL", empty_database) or empty_database
    app = create_app(
        dataclasses.replace(settings, database_url=url, privacy_policy_version="2025-11")
    )
    dbsetup.migrations(app)  # the command line wires Alembic in; a test app does it by hand
    with app.app_context():
        upgrade(revision="0007")
        at = datetime(2026, 3, 1, 12, 0)
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO contacts (id, public_id, user_id, email, email_hash, locale, "
                    "created_at, updated_at) VALUES (1, 'p1', 'u1', 'a@example.com', 'h1', 'en', "
                    ":at, :at)"
                ),
                {"at": at},
            )
            for event_id, category, granted, version in (
                (1, "partner_offers", True, "2025-07"),
                (2, "promotional", False, "2025-07"),
                (3, "partner_offers", False, "2025-09"),
                (4, "partner_offers", True, "2025-11"),
            ):
                conn.execute(
                    text(
                        "INSERT INTO consent_events (id, contact_id, category, granted, source, "
                        "policy_version, created_at) VALUES (:id, 1, :c, :g, 'app', :v, :at)"
                    ),
                    {"id": event_id, "c": category, "g": granted, "v": version, "at": at},
                )
            for category, granted in (("partner_offers", True), ("promotional", False)):
                conn.execute(
                    text(
                        "INSERT INTO preferences (contact_id, category, granted, updated_at) "
                        "VALUES (1, :c, :g, :at)"
                    ),
                    {"c": category, "g": granted, "at": at},
                )
        upgrade()
        with db.engine.connect() as conn:
            versions = conn.execute(
                text(
                    "SELECT label, placeholder, published_at IS NOT NULL, material, "
                    "changes_partner_sharing FROM policy_versions"
                )
            ).all()
            texts = conn.execute(text("SELECT locale, body FROM policy_texts")).all()
            choices = conn.execute(
                text("SELECT category, policy_version FROM preferences ORDER BY category")
            ).all()
            log = (
                conn.execute(text("SELECT policy_version FROM consent_events ORDER BY id"))
                .scalars()
                .all()
            )
        db.engine.dispose()
    assert [tuple(row) for row in versions] == [("2025-11", True, True, False, False)]
    assert sorted(locale for locale, _ in texts) == ["en", "ru"]
    assert all("2025-11" in body for _, body in texts)
    assert [tuple(row) for row in choices] == [
        ("partner_offers", "2025-11"),
        ("promotional", "2025-07"),
    ]
    assert log == ["2025-07", "2025-07", "2025-09", "2025-11"]  # history is not rewritten
