"""Staff accounts: argon2 hashes, upgrades of old ones, and the rules of who stays admin."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from flask import Flask

from invites.core import audit
from invites.core.db import db, utcnow
from invites.staff import Role, StaffUser, passwords, users
from invites.staff.errors import (
    DuplicateEmail,
    InvalidEmail,
    LastAdmin,
    SelfLockout,
    UnknownTimeZone,
    WeakPassword,
)

from ..support.helpers import must_get
from ..support.staff import PASSWORD, make_staff


def test_hash_is_argon2id_and_verifies_only_the_password() -> None:
    stored = passwords.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert passwords.verify(stored, PASSWORD)
    assert not passwords.verify(stored, PASSWORD + "!")
    assert not passwords.verify("not a hash", PASSWORD)
    assert passwords.hash_password(PASSWORD) != stored  # salted


def test_short_passwords_are_refused_with_the_length() -> None:
    with pytest.raises(WeakPassword, match="at least 12 characters"):
        passwords.hash_password("x" * 11)
    passwords.hash_password("x" * 12)


def test_a_hash_with_old_parameters_is_replaced_at_sign_in(app: Flask) -> None:
    user_id = make_staff(app, "ann@example.com")
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with app.app_context():
        assert passwords.needs_rehash(weaker)
        user = must_get(StaffUser, user_id)
        user.password_hash = weaker
        db.session.commit()
        # A wrong password can't trigger the upgrade: only a verified one is hashed again.
        refused = users.check_password(
            db.session, "ann@example.com", "wrong password", now=utcnow()
        )
        assert refused is None
        db.session.commit()
        assert must_get(StaffUser, user_id).password_hash == weaker
        assert users.check_password(db.session, "ann@example.com", PASSWORD, now=utcnow())
        db.session.commit()
        upgraded = must_get(StaffUser, user_id).password_hash
        # Upgraded to the app's own parameters (here the test profile; see below).
        assert upgraded != weaker and not passwords.needs_rehash(upgraded)
        assert passwords.verify(upgraded, PASSWORD)


def test_logins_are_one_lower_case_form(app: Flask) -> None:
    make_staff(app, "  Ann.Lee@Example.COM ")
    with app.app_context():
        [user] = users.all_users(db.session)
        assert user.email == "ann.lee@example.com"
        assert users.find_by_email(db.session, "ANN.LEE@example.com") is user
        with pytest.raises(DuplicateEmail):
            users.create_user(db.session, "ann.lee@EXAMPLE.com", PASSWORD, Role.ADMIN, now=utcnow())
        with pytest.raises(InvalidEmail):
            users.create_user(db.session, "ann", PASSWORD, Role.ADMIN, now=utcnow())


def test_time_zones_are_iana_names(app: Flask) -> None:
    make_staff(app, "msk@example.com", time_zone="Europe/Moscow")
    with app.app_context():
        msk = users.find_by_email(db.session, "msk@example.com")
        assert msk is not None and msk.time_zone == "Europe/Moscow"
        for bad in ("Mars/Olympus", "../../etc/passwd"):
            with pytest.raises(UnknownTimeZone):
                users.create_user(
                    db.session,
                    "x@example.com",
                    PASSWORD,
                    Role.MARKETING,
                    now=utcnow(),
                    time_zone=bad,
                )


def test_the_last_enabled_admin_stays(app: Flask) -> None:
    first = make_staff(app, "first@example.com", Role.ADMIN)
    second = make_staff(app, "second@example.com", Role.ADMIN)
    with app.app_context():
        a, b = must_get(StaffUser, first), must_get(StaffUser, second)
        with pytest.raises(SelfLockout):
            users.disable(db.session, a, actor=a, now=utcnow())
        assert users.set_role(db.session, b, Role.MARKETING, actor=a, now=utcnow())
        db.session.commit()
        with pytest.raises(LastAdmin):
            users.set_role(db.session, a, Role.MARKETING, actor=a, now=utcnow())
        with pytest.raises(LastAdmin):
            users.disable(db.session, a, actor=None, now=utcnow())  # the CLI has no actor
        db.session.rollback()
        assert users.disable(db.session, b, actor=a, now=utcnow())
        assert not users.disable(db.session, b, actor=a, now=utcnow())  # already
        db.session.commit()
        assert [u.role for u in users.all_users(db.session) if u.is_active] == [Role.ADMIN]


def test_every_change_is_in_the_audit_log(app: Flask) -> None:
    admin_id = make_staff(app, "boss@example.com", Role.ADMIN)
    with app.app_context():
        boss = must_get(StaffUser, admin_id)
        mia = users.create_user(
            db.session,
            "mia@example.com",
            PASSWORD,
            Role.MARKETING,
            now=utcnow(),
            actor=boss,
            ip="192.0.2.1",
        )
        db.session.flush()
        users.set_role(db.session, mia, Role.ADMIN, actor=boss, now=utcnow(), ip="192.0.2.1")
        users.disable(db.session, mia, actor=boss, now=utcnow(), ip="192.0.2.1")
        users.enable(db.session, mia, actor=boss, now=utcnow(), ip="192.0.2.1")
        assert users.check_password(
            db.session, "mia@example.com", PASSWORD, now=utcnow(), ip="192.0.2.9"
        )
        users.record_sign_in(db.session, mia, now=utcnow(), ip="192.0.2.9")
        users.sign_out(db.session, mia, now=utcnow(), ip="192.0.2.9")
        db.session.commit()
        events = audit.events_for(db.session, "staff_user", mia.id)
        assert [e.action for e in events] == [
            "staff.logout",
            "staff.login",
            "staff.enabled",
            "staff.disabled",
            "staff.role_changed",
            "staff.created",
        ]
        changed = events[4]
        # The log names the account, never its address (kept only sealed).
        assert (changed.actor, changed.actor_id, changed.ip) == (
            f"staff #{boss.id}",
            boss.id,
            "192.0.2.1",
        )
        assert changed.details == {"from": "marketing", "to": "admin"}
        assert events[0].actor == f"staff #{mia.id}" and events[0].ip == "192.0.2.9"
        assert events[-1].details == {"role": "marketing", "via": "console"}


def test_failed_logins_are_recorded_without_the_password(app: Flask) -> None:
    ann_id = make_staff(app, "ann@example.com")
    typed = "hunter2-but-longer"
    with app.app_context():
        for email in ("ann@example.com", "nobody@example.com", typed):
            refused = users.check_password(db.session, email, typed, now=utcnow(), ip="192.0.2.7")
            assert refused is None
        db.session.commit()
        failed = [e for e in audit.recent(db.session) if e.action == "staff.login_failed"]
    assert sorted(e.details["reason"] for e in failed) == [
        "unknown_account",
        "unknown_account",
        "wrong_password",
    ]
    everything = " ".join(f"{e.actor} {e.detail} {e.target_id}" for e in failed)
    # Neither the password nor an email is kept, not even one that names an account: the
    # account's id does (the event is about it).
    assert typed not in everything and "@example.com" not in everything
    assert sorted(e.target_id or "" for e in failed) == ["", "", str(ann_id)]


def test_a_disabled_account_is_refused_even_with_its_password(app: Flask) -> None:
    user_id = make_staff(app, "gone@example.com")
    with app.app_context():
        user = must_get(StaffUser, user_id)
        users.disable(db.session, user, actor=None, now=utcnow())
        db.session.commit()
        assert users.check_password(db.session, "gone@example.com", PASSWORD, now=utcnow()) is None
        db.session.commit()
        [last] = audit.recent(db.session, limit=1)
        assert last.details["reason"] == "disabled"


def test_real_cost_outside_tests_and_argon2id_at_its_cheapest_in_them(app: Flask) -> None:
    # Outside an app (and in every app not run with SPOTCAM_ENV=test): RFC 9106's profile.
    real = passwords.hash_password(PASSWORD)
    assert real.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    with app.app_context():
        cheap = passwords.hash_password(PASSWORD)
        assert cheap.startswith("$argon2id$v=19$m=8,t=1,p=1$")
        assert passwords.verify(real, PASSWORD) and not passwords.needs_rehash(cheap)
    # A test-cost hash met by the real parameters is replaced at the next sign-in.
    assert passwords.verify(cheap, PASSWORD) and passwords.needs_rehash(cheap)
