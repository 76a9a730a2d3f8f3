"""Two-factor sign-in for staff: a TOTP secret sealed at rest, codes that work once, one-time
recovery codes kept hashed, key rotation, and a reset that ends the user's sessions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from flask import Flask

from invites.core import audit
from invites.core.db import db, utcnow
from invites.core.sealed import Sealer, SealError
from invites.staff import Role, StaffRecoveryCode, StaffUser, twofactor
from invites.staff.errors import TwoFactorError

from ..support.helpers import all_database_text, make_app, must_get
from ..support.staff import enrol_two_factor, make_staff, totp_code

AT = datetime(2031, 5, 4, 12, 0, 10, tzinfo=UTC)


def _verify(app: Flask, user_id: int, code: str) -> str | None:
    with app.app_context():
        user = must_get(StaffUser, user_id)
        box = twofactor.sealer(app.config["SETTINGS"])
        factor = twofactor.verify(db.session, user, box, code, now=utcnow())
        db.session.commit()
        db.session.remove()
    return factor


def test_a_set_up_is_off_until_a_first_right_code(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    with app.app_context():
        mia = must_get(StaffUser, mia_id)
        box = twofactor.sealer(app.config["SETTINGS"])
        secret = twofactor.begin(db.session, mia, box)
        db.session.commit()
        assert not mia.has_two_factor and twofactor.pending_secret(mia, box) == secret
        uri = twofactor.provisioning_uri(mia, secret)
        assert uri.startswith("otpauth://totp/SpotCam%20console:mia%40example.com?secret=")
        svg = twofactor.qr_svg(uri)
        assert svg.startswith("<svg") and "style=" not in svg and "<script" not in svg
        with pytest.raises(TwoFactorError, match="not right"):
            twofactor.confirm(db.session, mia, box, "000000", now=utcnow())
        assert not mia.has_two_factor
        codes = twofactor.confirm(db.session, mia, box, pyotp.TOTP(secret).now(), now=utcnow())
        db.session.commit()
        assert mia.has_two_factor and twofactor.pending_secret(mia, box) is None
        assert len(set(codes)) == twofactor.RECOVERY_CODE_COUNT == 10
        assert all(len(c) == 19 and c.count("-") == 3 for c in codes)
        with pytest.raises(TwoFactorError, match="on already"):
            twofactor.begin(db.session, mia, box)
        assert audit.events_for(db.session, "staff_user", mia_id)[0].action == (
            "staff.two_factor_enabled"
        )
    # What a database dump holds: neither the secret nor a recovery code.
    dump = all_database_text(app)
    assert secret not in dump and secret.lower() not in dump
    assert not any(c in dump or c.replace("-", "") in dump for c in codes)


def test_a_code_works_once_and_never_an_older_one(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    with time_machine.travel(AT, tick=False) as clock:
        secret, _codes = enrol_two_factor(app, mia_id)  # confirmed with the previous step's
        totp = pyotp.TOTP(secret)
        now = totp.at(AT)
        assert _verify(app, mia_id, "000000" if now != "000000" else "111111") is None
        assert _verify(app, mia_id, now) == "totp"
        assert _verify(app, mia_id, now) is None  # replayed in its own window
        assert _verify(app, mia_id, totp.at(AT - timedelta(seconds=30))) is None  # older
        clock.move_to(AT + timedelta(seconds=30))
        assert (
            _verify(
                app,
                mia_id,
                f"{totp.at(AT + timedelta(seconds=30))[:3]} "
                f"{totp.at(AT + timedelta(seconds=30))[3:]}",
            )
            == "totp"
        )
        clock.move_to(AT + timedelta(seconds=120))
        # One step of drift either way is accepted; two are not.
        assert _verify(app, mia_id, totp.at(AT + timedelta(seconds=60))) is None
        assert _verify(app, mia_id, totp.at(AT + timedelta(seconds=150))) == "totp"


def test_recovery_codes_work_once_each(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    _secret, codes = enrol_two_factor(app, mia_id)
    assert _verify(app, mia_id, codes[0].upper().replace("-", " ")) == "recovery_code"
    assert _verify(app, mia_id, codes[0]) is None
    assert _verify(app, mia_id, codes[1]) == "recovery_code"
    with app.app_context():
        mia = must_get(StaffUser, mia_id)
        assert twofactor.recovery_codes_left(db.session, mia) == 8
        fresh = twofactor.replace_recovery_codes(db.session, mia, now=utcnow())
        db.session.commit()
        assert twofactor.recovery_codes_left(db.session, mia) == 10
    assert _verify(app, mia_id, codes[2]) is None  # the old set is gone
    assert _verify(app, mia_id, fresh[0]) == "recovery_code"
    other_id = make_staff(app, "max@example.com")
    enrol_two_factor(app, other_id)
    assert _verify(app, other_id, fresh[1]) is None  # a code is one user's only


def _twice_at_once(app: Flask, user_id: int, code: str) -> list[str | None]:
    """Verify the same code in two threads (two sessions, two connections) at one moment."""
    start = threading.Barrier(2)
    results: list[str | None] = []

    def attempt() -> None:
        start.wait()
        results.append(_verify(app, user_id, code))

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results, key=str)


def test_the_same_code_at_once_in_two_requests_passes_once(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    secret, codes = enrol_two_factor(app, mia_id)
    assert _twice_at_once(app, mia_id, pyotp.TOTP(secret).now()) == [None, "totp"]
    assert _twice_at_once(app, mia_id, codes[0]) == [None, "recovery_code"]


def test_secrets_are_sealed_to_their_row_and_follow_a_key_rotation(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    max_id = make_staff(app, "max@example.com")
    ann_id = make_staff(app, "ann@example.com")
    secret, _codes = enrol_two_factor(app, mia_id)
    enrol_two_factor(app, max_id)
    ann_secret, _codes = enrol_two_factor(app, ann_id)
    settings = app.config["SETTINGS"]
    with app.app_context():
        mia, other = must_get(StaffUser, mia_id), must_get(StaffUser, max_id)
        sealed_before = mia.totp_secret
        assert sealed_before is not None and secret not in sealed_before
        # Copied onto another row, it doesn't open there.
        box = twofactor.sealer(settings)
        with pytest.raises(SealError, match="altered or belongs elsewhere"):
            box.open_(sealed_before, f"staff_users.totp_secret:{max_id}")
        other.totp_secret = sealed_before
        db.session.commit()
    assert _verify(app, max_id, pyotp.TOTP(secret).now()) is None
    # SECRET_KEY rotates, the old one kept as a fallback for a while: Mia signs in meanwhile,
    # and her secret is sealed again with the new key. Ann doesn't.
    new_key = "a-brand-new-secret-key-for-this-test"
    rotated = make_app(settings, secret_key=new_key, secret_key_fallbacks=[settings.secret_key])
    assert _verify(rotated, mia_id, pyotp.TOTP(secret).now()) == "totp"
    with rotated.app_context():
        resealed = must_get(StaffUser, mia_id).totp_secret
        assert resealed is not None and resealed.split(".")[1] != sealed_before.split(".")[1]
        bound = f"staff_users.totp_secret:{mia_id}"
        assert Sealer("staff.totp", new_key).open_(resealed, bound) == (secret, False)
    # The old key dropped: Mia's code still works, Ann's secret can't be opened any more
    # (an admin resets her two-factor).
    dropped = make_app(settings, secret_key=new_key, secret_key_fallbacks=[])
    assert _verify(dropped, mia_id, totp_code(secret, 1)) == "totp"
    assert _verify(dropped, ann_id, pyotp.TOTP(ann_secret).now()) is None


def test_an_admin_reset_ends_sessions_and_is_audited(app: Flask) -> None:
    boss_id = make_staff(app, "boss@example.com", Role.ADMIN)
    mia_id = make_staff(app, "mia@example.com")
    _secret, codes = enrol_two_factor(app, mia_id)
    with app.app_context():
        boss, mia = must_get(StaffUser, boss_id), must_get(StaffUser, mia_id)
        token = mia.session_token
        assert twofactor.remove(db.session, mia, actor=boss, now=utcnow(), ip="192.0.2.1")
        db.session.commit()
        assert not mia.has_two_factor and mia.totp_secret is None
        assert mia.session_token != token
        assert db.session.query(StaffRecoveryCode).count() == 0
        event = audit.events_for(db.session, "staff_user", mia_id)[0]
        assert (event.action, event.actor, event.details) == (
            "staff.two_factor_reset",
            f"staff #{boss_id}",
            {"via": "console"},
        )
        assert not twofactor.remove(db.session, mia, actor=boss, now=utcnow())  # off already
    assert _verify(app, mia_id, codes[0]) is None


def test_turning_your_own_off_keeps_your_session(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    enrol_two_factor(app, mia_id)
    with app.app_context():
        mia = must_get(StaffUser, mia_id)
        token = mia.session_token
        assert twofactor.remove(db.session, mia, actor=mia, now=utcnow())
        db.session.commit()
        assert mia.session_token == token
        assert audit.events_for(db.session, "staff_user", mia_id)[0].action == (
            "staff.two_factor_disabled"
        )
        with pytest.raises(TwoFactorError):
            twofactor.replace_recovery_codes(db.session, mia, now=utcnow())
