"""Staff sign-in addresses at rest: sealed, found by their keyed hash in any case, unique even
when two admins create one address at the same moment; records name the account, and the audit
search still finds a staff member by part of their address; migration 0019 both ways."""

from __future__ import annotations

import dataclasses
import html
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from invites import create_app
from invites.core import dbsetup
from invites.core.atrest import vault
from invites.core.config import Settings, database_url
from invites.core.db import db, utcnow
from invites.staff import Role, users
from invites.staff.errors import DuplicateEmail

from ..support.helpers import is_postgresql
from ..support.staff import PASSWORD, label_of, make_staff, post_form, sign_in, signed_in
from .test_migration import empty_database  # noqa: F401 - a fixture

BOSS, MAX, TWIN = "bea.boss@spotcam.example", "max.marketer@spotcam.example", "twin@spotcam.example"


def _stored(app: Flask) -> list[tuple[Any, ...]]:
    with app.app_context(), db.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, email, email_hash FROM staff_users ORDER BY id"))
        return [tuple(row) for row in rows]


def test_a_staff_address_is_stored_sealed_and_signs_in_in_any_case(app: Flask) -> None:
    user_id = make_staff(app, "Max.Marketer@SpotCam.Example")
    [(row_id, sealed, email_hash)] = _stored(app)
    box = vault(app.config["SETTINGS"])
    assert row_id == user_id and "@" not in sealed and sealed.startswith("v1.dev.")
    assert email_hash == box.hash(MAX)
    assert box.open_address("staff_users.email", sealed, email_hash) == MAX  # one form: lower
    for typed in (MAX, MAX.upper(), " Max.Marketer@spotcam.example "):
        assert sign_in(app.test_client(), typed).status_code == 302, typed
    with app.app_context():
        found = users.find_by_email(db.session, "MAX.MARKETER@spotcam.example")
        assert found is not None and found.id == user_id and found.email == MAX
        db.session.remove()


def test_two_creations_of_one_address_at_once_make_one_account(app: Flask) -> None:
    """Both check that the address is free before either commits; the unique keyed hash lets
    one commit and gives the other the error a person reads."""
    inserting, here = threading.Event(), threading.get_ident()

    def noticed(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO staff_users") and threading.get_ident() != here:
            inserting.set()

    def second() -> str:
        with app.app_context():
            try:
                users.create_user(db.session, TWIN.upper(), PASSWORD, Role.ADMIN, now=utcnow())
                db.session.commit()
                return "created"
            except DuplicateEmail as exc:
                db.session.rollback()
                return str(exc)
            finally:
                db.session.remove()

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", noticed)
        pool = ThreadPoolExecutor(1)
        try:
            first = users.create_user(db.session, TWIN, PASSWORD, Role.MARKETING, now=utcnow())
            # The first row is written, not committed: the second's check can't see it.
            later = pool.submit(second)
            assert inserting.wait(timeout=30), "the second creation never reached its INSERT"
            db.session.commit()
            first_id = first.id
            outcome = later.result(timeout=60)
        finally:
            pool.shutdown(wait=True)
            event.remove(engine, "before_cursor_execute", noticed)
            db.session.remove()
    assert outcome == f"a staff user {TWIN} exists already"
    assert [row[0] for row in _stored(app)] == [first_id]
    with app.app_context():
        kept = users.find_by_email(db.session, TWIN)
        assert kept is not None and kept.role == Role.MARKETING
        db.session.remove()


def test_the_audit_log_names_accounts_and_finds_them_by_part_of_their_address(
    app: Flask,
) -> None:
    boss = signed_in(app, BOSS, Role.ADMIN)
    new = {"email": MAX, "role": "marketing", "password": PASSWORD, "password_again": PASSWORD}
    assert post_form(boss, "/console/users", new, "/console/users").status_code == 303
    assert sign_in(app.test_client(), MAX, "not the password at all").status_code == 200
    assert sign_in(app.test_client(), MAX).status_code == 302
    max_label, boss_label = label_of(app, MAX), label_of(app, BOSS)
    max_id = int(max_label.removeprefix("staff #"))
    with app.app_context(), db.engine.connect() as conn:
        stored = conn.execute(text("SELECT actor, action, detail FROM audit_events")).all()
    assert ("staff #" in " ".join(str(r) for r in stored)) and "@" not in str(stored)
    assert (max_label, "staff.login", None) in [tuple(r) for r in stored]

    # Part of her address, in any case: her sign-in, none of the boss's events.
    found = boss.get("/console/audit?actor=MAX.MARK")
    assert found.status_code == 200
    page = html.unescape(found.text)
    assert "1 event matches" in page and "<code>staff.login</code>" in page
    # Shown by the address she has now, linked to her row, with the label the log keeps.
    assert f'href="/console/users#staff-{max_id}">{MAX}</a>' in page and max_label in page
    assert 'id="staff-' + str(max_id) + '"' in boss.get("/console/users").text
    # The label itself, and part of the boss's address (his sign-in, and creating her).
    by_label = boss.get("/console/audit", query_string={"actor": max_label})
    assert "1 event matches" in html.unescape(by_label.text)
    by_boss = html.unescape(boss.get("/console/audit?actor=bea.").text)
    assert "2 events match" in by_boss and boss_label in by_boss
    assert "No event matches." in boss.get("/console/audit?actor=nobody@").text


# The state 0018 left: plaintext staff addresses in the audit log, details and pause reasons.
AT = datetime(2026, 12, 1, 9, 0)
OLD_EVENTS = (
    # id, actor_id, actor, action, target_id, detail
    (1, 1, BOSS, "staff.created", "2", {"email": MAX, "role": "marketing", "via": "console"}),
    (2, None, None, "staff.login_failed", "2", {"email": MAX, "reason": "wrong_password"}),
    (3, 2, MAX, "campaign.pause", "1", {"reason": f"paused by {MAX}"}),
    (4, None, "gone@spotcam.example", "api_key.revoked", "k1", None),
    (5, None, "cli (deploy)", "staff.disabled", "1", {"via": "cli"}),
)


def _old_rows(conn: Any) -> None:
    for staff_id, email in ((1, BOSS), (2, MAX)):
        conn.execute(
            text(
                "INSERT INTO staff_users (id, email, password_hash, role, session_token, "
                "created_at) VALUES (:id, :e, 'x', 'admin', 't', :at)"
            ),
            {"id": staff_id, "e": email, "at": AT},
        )
    for event_id, actor_id, actor, action, target_id, detail in OLD_EVENTS:
        conn.execute(
            text(
                "INSERT INTO audit_events (id, at, actor_id, actor, action, target_type, "
                "target_id, detail) VALUES (:id, :at, :actor_id, :actor, :action, 'x', :t, :d)"
            ),
            {
                "id": event_id,
                "at": AT,
                "actor_id": actor_id,
                "actor": actor,
                "action": action,
                "t": target_id,
                "d": json.dumps(detail, sort_keys=True) if detail else None,
            },
        )
    conn.execute(
        text(
            "INSERT INTO campaigns (id, name, category, status, version, anchor, default_zone, "
            "planning_done, paused_reason, created_at, updated_at) VALUES (1, 'c', "
            "'promotional', 'paused', 1, 'moment', 'UTC', :f, :reason, :at, :at)"
        ),
        {"f": False, "reason": f"paused by {MAX}", "at": AT},
    )


def _now(conn: Any) -> tuple[list[tuple[Any, ...]], str]:
    events = conn.execute(
        text("SELECT id, actor_id, actor, detail FROM audit_events ORDER BY id")
    ).all()
    reason = conn.execute(text("SELECT paused_reason FROM campaigns")).scalar_one()
    return [(i, a, who, json.loads(d) if d else None) for i, a, who, d in events], reason


def test_migration_0019_seals_staff_addresses_and_names_accounts_and_back(
    settings: Settings,
    empty_database: str,  # noqa: F811 - the fixture
) -> None:
    url = database_url("DATABASE_URL", empty_database) or empty_database
    app = create_app(dataclasses.replace(settings, database_url=url))
    dbsetup.migrations(app)
    box = vault(settings)
    with app.app_context():
        upgrade(revision="0018")
        with db.engine.begin() as conn:
            _old_rows(conn)
        upgrade(revision="0019")
        rows = _stored(app)
        assert [(i, h) for i, _sealed, h in rows] == [(1, box.hash(BOSS)), (2, box.hash(MAX))]
        assert all("@" not in sealed for _i, sealed, _h in rows)
        assert [u.email for u in users.all_users(db.session)] == [BOSS, MAX]
        db.session.remove()
        with db.engine.connect() as conn:
            events, reason = _now(conn)
        assert events == [
            (1, 1, "staff #1", {"role": "marketing", "via": "console"}),
            (2, None, None, {"reason": "wrong_password"}),
            (3, 2, "staff #2", {"reason": "paused by staff #2"}),
            (4, None, "staff (account deleted)", None),
            (5, None, "cli (deploy)", {"via": "cli"}),
        ]
        assert reason == "paused by staff #2"
        if is_postgresql(url):
            # The append-only trigger is back on after the migration's own rewrite.
            with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
                conn.execute(text("UPDATE audit_events SET actor = 'x' WHERE id = 1"))
        # Unique by hash, as the model says; a second row with one address is refused.
        with pytest.raises(DBAPIError), db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO staff_users (email, email_hash, password_hash, role, "
                    "session_token, created_at) VALUES ('v1.x', :h, 'x', 'admin', 't', :at)"
                ),
                {"h": box.hash(MAX), "at": AT},
            )

        downgrade(revision="0018")
        with db.engine.connect() as conn:
            plain = conn.execute(text("SELECT id, email FROM staff_users ORDER BY id")).all()
            columns = conn.execute(text("SELECT * FROM staff_users")).keys()
            events, reason = _now(conn)
        db.engine.dispose()
    assert [tuple(r) for r in plain] == [(1, BOSS), (2, MAX)] and "email_hash" not in columns
    assert events == [
        (1, 1, BOSS, {"email": MAX, "role": "marketing", "via": "console"}),
        (2, None, None, {"email": MAX, "reason": "wrong_password"}),
        (3, 2, MAX, {"reason": f"paused by {MAX}"}),
        (4, None, "staff (account deleted)", None),  # no account left to name
        (5, None, "cli (deploy)", {"via": "cli"}),
    ]
    assert reason == f"paused by {MAX}"
