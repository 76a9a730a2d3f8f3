"""Two-factor sign-in for staff: TOTP codes (RFC 6238, through pyotp) and recovery codes.

A user enrols from their own page: a new secret is sealed into their row (encrypted with a
key derived from SECRET_KEY, bound to the row: invites.core.sealed), shown as a QR code and
as text, and switched on only by a first right code. Then they get ten one-time recovery
codes, kept as SHA-256 hashes.

A code is good once. The last accepted time step is stored, and only a later one is accepted,
by a conditional UPDATE: two requests with the same code can't both pass, on any number of
web processes (on PostgreSQL the second waits for the first's row lock, then finds the step
taken). A recovery code is spent the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from datetime import datetime
from typing import Literal

import pyotp
import segno
from sqlalchemy import delete, func, or_, select, update

from invites.core import audit
from invites.core.config import Settings
from invites.core.db import AnySession
from invites.core.sealed import Sealer, SealError
from invites.staff import users
from invites.staff.errors import TwoFactorError
from invites.staff.models import StaffRecoveryCode, StaffUser

log = logging.getLogger(__name__)

#: What authenticator apps show above the account's email.
ISSUER = "SpotCam console"
#: Codes before and after the current one that are still accepted (clock drift, slow typing).
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
#: 16 characters of base32 (80 bits), shown in four groups of four.
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"

Factor = Literal["totp", "recovery_code"]


def sealer(settings: Settings) -> Sealer:
    """The sealer for TOTP secrets under this app's SECRET_KEY and its fallbacks."""
    return Sealer("staff.totp", settings.secret_key, tuple(settings.secret_key_fallbacks))


def _bound(user: StaffUser) -> str:
    return f"staff_users.totp_secret:{user.id}"


def begin(session: AnySession, user: StaffUser, box: Sealer) -> str:
    """Start (or restart) an enrolment: a new secret, not used for sign-in until confirmed."""
    if user.has_two_factor:
        raise TwoFactorError("two-factor sign-in is on already")
    secret = pyotp.random_base32()
    user.totp_secret = box.seal(secret, _bound(user))
    user.totp_last_step = None
    return secret


def pending_secret(user: StaffUser, box: Sealer) -> str | None:
    """The secret of an enrolment waiting for its first code, if there is one."""
    if user.totp_secret is None or user.has_two_factor:
        return None
    try:
        return box.open_(user.totp_secret, _bound(user))[0]
    except SealError:
        return None  # sealed under a key no longer configured: start again


def provisioning_uri(user: StaffUser, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code: no script, no style attribute, no image request."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, border=2, dark="#1d2330"))


def confirm(
    session: AnySession,
    user: StaffUser,
    box: Sealer,
    code: str,
    *,
    now: datetime,
    ip: str | None = None,
) -> list[str]:
    """Switch two-factor on with a first right code; return the new recovery codes."""
    secret = pending_secret(user, box)
    if secret is None:
        raise TwoFactorError("start the set-up again: no set-up is waiting for a code")
    if not _take_totp(session, user, secret, code):
        raise TwoFactorError("that code is not right; check the device's clock and try again")
    user.totp_enabled_at = now
    codes = new_recovery_codes(session, user, now=now)
    users.record_event(session, user, "staff.two_factor_enabled", actor=user, now=now, ip=ip)
    log.info("staff user %s turned on two-factor sign-in", user.id)
    return codes


def verify(
    session: AnySession, user: StaffUser, box: Sealer, code: str, *, now: datetime
) -> Factor | None:
    """Check a sign-in code (TOTP, or a recovery code) and spend it; None if not right."""
    if not user.has_two_factor or user.totp_secret is None:
        return None
    typed = "".join(code.split()).replace("-", "").lower()
    if typed.isdigit() and len(typed) == 6:
        try:
            secret, stale = box.open_(user.totp_secret, _bound(user))
        except SealError:
            log.error("staff user %s: TOTP secret can't be opened with any key", user.id)
            return None
        if not _take_totp(session, user, secret, typed):
            return None
        if stale:  # sealed with a key now in SECRET_KEY_FALLBACKS: seal it with the new one
            user.totp_secret = box.seal(secret, _bound(user))
        return "totp"
    if len(typed) != 16:
        return None
    spent = session.execute(
        update(StaffRecoveryCode)
        .where(
            StaffRecoveryCode.staff_user_id == user.id,
            StaffRecoveryCode.code_hash == _hash(typed),
            StaffRecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return "recovery_code" if spent.rowcount == 1 else None  # type: ignore[attr-defined]


def _take_totp(session: AnySession, user: StaffUser, secret: str, code: str) -> bool:
    """Whether the code is one of the current steps' and newer than the last accepted one."""
    totp = pyotp.TOTP(secret)
    current = int(time.time()) // totp.interval
    matched = [
        step
        for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1)
        if hmac.compare_digest(totp.generate_otp(step), code)
    ]
    if not matched:
        return False
    step = max(matched)
    taken = session.execute(
        update(StaffUser)
        .where(
            StaffUser.id == user.id,
            or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return False  # this code (or a later one) was used already
    user.totp_last_step = step
    return True


def new_recovery_codes(session: AnySession, user: StaffUser, *, now: datetime) -> list[str]:
    """Replace the user's recovery codes with new ones; return them (shown once, kept hashed)."""
    session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_user_id == user.id))
    codes = [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    session.add_all(
        StaffRecoveryCode(staff_user_id=user.id, code_hash=_hash(c), created_at=now) for c in codes
    )
    return ["-".join(c[i : i + 4] for i in range(0, 16, 4)) for c in codes]


def replace_recovery_codes(
    session: AnySession, user: StaffUser, *, now: datetime, ip: str | None = None
) -> list[str]:
    """New recovery codes for a user who has two-factor on (the old ones stop working)."""
    if not user.has_two_factor:
        raise TwoFactorError("two-factor sign-in is not on")
    codes = new_recovery_codes(session, user, now=now)
    users.record_event(session, user, "staff.recovery_codes_replaced", actor=user, now=now, ip=ip)
    return codes


def recovery_codes_left(session: AnySession, user: StaffUser) -> int:
    """How many of the user's recovery codes are unused."""
    query = select(func.count()).where(
        StaffRecoveryCode.staff_user_id == user.id, StaffRecoveryCode.used_at.is_(None)
    )
    return int(session.scalar(query) or 0)


def remove(
    session: AnySession,
    user: StaffUser,
    *,
    actor: audit.Actor | None,
    now: datetime,
    ip: str | None = None,
) -> bool:
    """Turn two-factor off (or drop a set-up in progress); return whether it was on.

    By the user themselves it is `staff.two_factor_disabled`; by an admin or at the command
    line it is `staff.two_factor_reset`, and it also ends the user's sessions, since it is
    what one does for a lost or stolen phone.
    """
    was_on = user.has_two_factor
    user.totp_secret = user.totp_enabled_at = user.totp_last_step = None
    session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_user_id == user.id))
    if not was_on:
        return False
    by_self = actor is not None and actor.id == user.id
    if not by_self:
        user.session_token = secrets.token_hex(16)
    users.record_event(
        session,
        user,
        "staff.two_factor_disabled" if by_self else "staff.two_factor_reset",
        actor=actor,
        now=now,
        ip=ip,
        detail=None if by_self else {"via": users.via(actor)},
    )
    log.info("two-factor sign-in of staff user %s turned off", user.id)
    return True


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
