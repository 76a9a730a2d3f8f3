"""Migration 0012 on a database that already holds campaigns: the counts are filled from the
ledger, the triggers keep them from there, and dropping `campaign_batches.runs` loses no ledger
row (SQLite's copy-and-drop of a table would have cascaded to them)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import Connection, inspect, text

from invites import create_app
from invites.core import dbsetup
from invites.core.config import Settings
from invites.core.db import db

from ..support.helpers import _admin, is_postgresql

STATUSES = ("queued", "sending", "sent", "failed", "unknown", "skipped", "suppressed")
#: (campaign, status) of each seeded ledger row, one contact each.
LEDGER = [
    (1, "sent"),
    (1, "sent"),
    (1, "failed"),
    (1, "unknown"),
    (1, "queued"),
    (1, "sending"),
    (2, "queued"),
    (2, "skipped"),
    (2, "suppressed"),
]


@pytest.fixture()
def empty_database(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """A database of the suite's kind with nothing in it yet."""
    given = os.environ.get("DATABASE_URL")
    if not is_postgresql(given):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    assert given is not None
    name = f"spotcam_progress_migration_{os.getpid()}"
    _admin(given, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    yield make_url_for(given, name)
    _admin(given, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_url_for(given: str, name: str) -> str:
    from sqlalchemy import make_url

    return make_url(given).set(database=name).render_as_string(hide_password=False)


def _seed(conn: Connection) -> None:
    at = datetime(2026, 12, 1, 12, 0)
    for n, _ in enumerate(LEDGER, start=1):
        conn.execute(
            text(
                "INSERT INTO contacts (id, public_id, user_id, email, email_hash, locale, "
                "created_at, updated_at) VALUES (:n, :p, :u, :e, :h, 'en', :at, :at)"
            ),
            {"n": n, "p": f"p{n}", "u": f"u{n}", "e": f"c{n}@example.com", "h": f"h{n}", "at": at},
        )
    for campaign in (1, 2):
        conn.execute(
            text(
                "INSERT INTO campaigns (id, name, category, status, version, anchor, "
                "default_zone, planning_done, created_at, updated_at) VALUES "
                "(:c, 'Old', 'promotional', 'sending', 1, 'moment', 'UTC', :t, :at, :at)"
            ),
            {"c": campaign, "t": True, "at": at},
        )
        conn.execute(
            text(
                "INSERT INTO campaign_batches (id, campaign_id, first_contact_id, "
                "last_contact_id, planned, due_at, status, runs, created_at) VALUES "
                "(:c, :c, 1, 9, 9, :at, 'running', 3, :at)"
            ),
            {"c": campaign, "at": at},
        )
    for n, (campaign, status) in enumerate(LEDGER, start=1):
        conn.execute(
            text(
                "INSERT INTO campaign_deliveries (campaign_id, contact_id, batch_id, status, "
                "attempts, next_attempt_at, updated_at) VALUES (:c, :n, :c, :s, 1, :at, :at)"
            ),
            {"c": campaign, "n": n, "s": status, "at": at},
        )


def _kept(conn: Connection, campaign: int) -> dict[str, int]:
    sums = ", ".join(f"coalesce(sum({s}), 0)" for s in STATUSES)
    row = conn.execute(
        text(f"SELECT {sums} FROM campaign_progress WHERE campaign_id = :c"),  # noqa: S608
        {"c": campaign},
    ).one()
    return {s: int(v) for s, v in zip(STATUSES, row, strict=True) if v}


def _ledger(conn: Connection, campaign: int) -> dict[str, int]:
    rows = conn.execute(
        text(
            "SELECT status, count(*) FROM campaign_deliveries WHERE campaign_id = :c "
            "GROUP BY status"
        ),
        {"c": campaign},
    ).all()
    return {status: int(n) for status, n in rows}


def test_the_upgrade_fills_the_counts_from_the_ledger_and_keeps_every_ledger_row(
    settings: Settings, empty_database: str
) -> None:
    from invites.core.config import database_url

    url = database_url("DATABASE_URL", empty_database) or empty_database
    app = create_app(dataclasses.replace(settings, database_url=url))
    dbsetup.migrations(app)  # the command line wires Alembic in; a test app does it by hand
    with app.app_context():
        upgrade(revision="0011")
        with db.engine.begin() as conn:
            _seed(conn)
        upgrade(revision="0012")
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM campaign_deliveries")).scalar() == 9
            for campaign in (1, 2):
                assert _kept(conn, campaign) == _ledger(conn, campaign)
            assert _kept(conn, 1) == {
                "sent": 2,
                "failed": 1,
                "unknown": 1,
                "queued": 1,
                "sending": 1,
            }
            columns = {c["name"] for c in inspect(conn).get_columns("campaign_batches")}
            assert "runs" not in columns
            # From here on the triggers keep them: a move, a new row, a removed row.
            conn.execute(
                text("UPDATE campaign_deliveries SET status = 'sent' WHERE status = 'sending'")
            )
            conn.execute(text("DELETE FROM campaign_deliveries WHERE status = 'skipped'"))
        with db.engine.begin() as conn:
            assert _kept(conn, 1) == _ledger(conn, 1) and _kept(conn, 1)["sent"] == 3
            assert _kept(conn, 2) == _ledger(conn, 2) == {"queued": 1, "suppressed": 1}
        downgrade(revision="0011")
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM campaign_deliveries")).scalar() == 8
            assert "campaign_progress" not in inspect(conn).get_table_names()
            conn.execute(text("UPDATE campaign_deliveries SET status = 'sent'"))  # no trigger
        upgrade(revision="0012")
        with db.engine.begin() as conn:
            assert _kept(conn, 1) == _ledger(conn, 1) == {"sent": 6}
        db.engine.dispose()
