"""Staff user management: create, sign in, sign out, change role, disable, enable.

Functions add to the given session and leave the commit to the caller, so a change and its
audit event are committed together or not at all.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from invites.core import audit, zones
from invites.core.addresses import InvalidAddress, normalize
from invites.core.atrest import vault
from invites.core.db import AnySession
from invites.staff import passwords
from invites.staff.errors import (
    DuplicateEmail,
    InvalidEmail,
    LastAdmin,
    SelfLockout,
    UnknownTimeZone,
)
from invites.staff.models import Role, StaffUser

log = logging.getLogger(__name__)
TARGET = "staff_user"


def normalize_email(raw: str) -> str:
    """The one stored form of a staff login: validated, then lower case throughout."""
    try:
        # Lower case in full, unlike a recipient's address: a login must not depend on how
        # someone capitalised it, and nothing is ever mailed to it.
        return normalize(raw.strip()).lower()
    except InvalidAddress as exc:
        raise InvalidEmail(f"not a valid email address: {exc}") from exc


def check_time_zone(name: str | None) -> str | None:
    """Return an IANA time zone name unchanged (None or empty for UTC), or refuse it."""
    if not name:
        return None
    try:
        return zones.check_zone(name)
    except zones.UnknownZone as exc:
        raise UnknownTimeZone(str(exc)) from None


def via(actor: audit.Actor | None) -> str:
    """Where a change to an account came from, for its audit detail: "console" or "cli"."""
    return "console" if isinstance(actor, StaffUser) else "cli"


def record_event(
    session: AnySession,
    user: StaffUser,
    action: str,
    *,
    actor: audit.Actor | None,
    now: datetime,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record something done to a staff account in the audit log (it commits with the change).

    `actor` is a staff user, the operator at the command line (`audit.operator()`), or None
    for nobody signed in; details never hold a password.
    """
    audit.record(
        session,
        actor=actor,
        action=action,
        target_type=TARGET,
        target_id=user.id,
        detail=detail,
        ip=ip,
        now=now,
    )


def find_by_email(session: AnySession, email: str) -> StaffUser | None:
    """Return the staff user with this login, or None (also for text that isn't an address)."""
    try:
        key = normalize_email(email)
    except InvalidEmail:
        return None
    # By the keyed hash: the address itself is stored only sealed.
    return session.scalar(select(StaffUser).where(StaffUser.email_hash == vault().hash(key)))


def get(session: AnySession, user_id: int) -> StaffUser | None:
    """Return the staff user with this id."""
    return session.get(StaffUser, user_id)


def all_users(session: AnySession) -> list[StaffUser]:
    """Every staff user, enabled ones first, then by email.

    Sorted here, once the addresses are open: the database holds them only sealed, and the
    staff table is small (people who sign in to the console).
    """
    found = session.scalars(select(StaffUser))
    return sorted(found, key=lambda u: (u.disabled_at is not None, u.email, u.id))


def addresses(session: AnySession) -> dict[int, str]:
    """Every staff user's current address, by id: how pages name the accounts records
    mention ("staff #7")."""
    return {user.id: user.email for user in session.scalars(select(StaffUser))}


#: A staff account as records name it ("staff #7"; audit.staff_label).
_LABEL = re.compile(re.escape(audit.STAFF_LABEL) + r"(\d+)")


def named(text: str, current: Mapping[int, str]) -> str:
    """A stored text ("paused by staff #7") with each account it names shown by the address
    it has now, from `current` (`addresses`); the console's filter `staff_named`."""
    return _LABEL.sub(lambda m: current.get(int(m.group(1)), m.group(0)), text)


def ids_matching(named: Mapping[int, str], typed: str) -> frozenset[int]:
    """The ids of `named` (`addresses`: every staff address, opened) whose address contains
    `typed`, in any case: how records that name accounts by id are searched by address."""
    needle = typed.strip().lower()
    if not needle:
        return frozenset()
    return frozenset(i for i, email in named.items() if needle in email.lower())


def create_user(
    session: AnySession,
    email: str,
    password: str,
    role: Role,
    *,
    now: datetime,
    time_zone: str | None = None,
    actor: audit.Actor | None = None,
    ip: str | None = None,
) -> StaffUser:
    """Add a staff user (the password is checked and hashed; only the hash is stored).

    DuplicateEmail when the address has an account, also one created by someone else at the
    same moment (the unique keyed hash refuses the second row); the caller then rolls back.
    """
    login = normalize_email(email)
    zone = check_time_zone(time_zone)
    password_hash = passwords.hash_password(password)
    taken = DuplicateEmail(f"a staff user {login} exists already")
    if find_by_email(session, login) is not None:
        raise taken
    user = StaffUser(
        email=login,
        password_hash=password_hash,
        role=Role(role),
        time_zone=zone,
        session_token=secrets.token_hex(16),
        created_at=now,
    )
    session.add(user)
    try:
        session.flush()  # the id, for the audit event
    except IntegrityError as exc:
        # Another account with this address committed after our check: its keyed hash is
        # the only unique value a new row can share (the sealed column never repeats).
        raise taken from exc
    # No address in the detail: the log is kept for good, and the account's id names it.
    detail = {"role": user.role.value, "via": via(actor)}
    record_event(session, user, "staff.created", actor=actor, now=now, ip=ip, detail=detail)
    log.info("staff user %s created with role %s", user.id, user.role.value)
    return user


def check_password(
    session: AnySession, email: str, password: str, *, now: datetime, ip: str | None = None
) -> StaffUser | None:
    """The first step of signing in: return the enabled user these credentials name, or None.

    Unknown email, wrong password and disabled account take the same time and give the
    caller the same None; only the audit log (for admins) says which it was (each refusal is
    recorded here). The password is never recorded, nor the typed email unless it names an
    account. A right password signs nobody in by itself: `record_sign_in` does, once any
    second factor the user has was checked too.
    """
    user = find_by_email(session, email)
    if user is None:
        passwords.verify_nothing(password)
        record_refusal(session, None, "unknown_account", now=now, ip=ip)
        return None
    if not passwords.verify(user.password_hash, password) or not user.is_active:
        reason = "disabled" if user.is_active is False else "wrong_password"
        record_refusal(session, user, reason, now=now, ip=ip)
        return None
    if passwords.needs_rehash(user.password_hash):
        # The parameters changed since this hash was made; only now is the password known.
        user.password_hash = passwords.hash_password(password)
    return user


def record_refusal(
    session: AnySession, user: StaffUser | None, reason: str, *, now: datetime, ip: str | None
) -> None:
    """Record a refused sign-in (`staff.login_failed`) with why, and the account if the typed
    login names one (by its id: never an address, nor the text typed)."""
    audit.record(
        session,
        actor=None,
        action="staff.login_failed",
        target_type=TARGET,
        target_id=user.id if user else None,
        detail={"reason": reason},
        ip=ip,
        now=now,
    )


def record_sign_in(
    session: AnySession,
    user: StaffUser,
    *,
    now: datetime,
    ip: str | None = None,
    second_factor: str | None = None,
) -> None:
    """Record a completed sign-in (`staff.login`, with the second factor used if any)."""
    user.last_login_at = now
    record_event(
        session,
        user,
        "staff.login",
        actor=user,
        now=now,
        ip=ip,
        detail={"second_factor": second_factor} if second_factor else None,
    )


def load_session_user(session: AnySession, session_id: str) -> StaffUser | None:
    """Return the enabled user a session's id names, if that session is still valid."""
    row_id, _, token = session_id.partition(":")
    if not row_id.isdigit() or not token:
        return None
    user = get(session, int(row_id))
    if user is None or not user.is_active:
        return None
    return user if secrets.compare_digest(user.session_token, token) else None


def sign_out(session: AnySession, user: StaffUser, *, now: datetime, ip: str | None) -> None:
    """End every session of this user (all devices) and record it."""
    user.session_token = secrets.token_hex(16)
    record_event(session, user, "staff.logout", actor=user, now=now, ip=ip)


def set_role(
    session: AnySession,
    user: StaffUser,
    role: Role,
    *,
    actor: audit.Actor | None,
    now: datetime,
    ip: str | None = None,
) -> bool:
    """Give the user another role; return whether anything changed."""
    role = Role(role)
    if user.role == role:
        return False
    if user.role == Role.ADMIN and user.is_active:
        _keep_an_admin(session, user)
    before, user.role = user.role, role
    record_event(
        session,
        user,
        "staff.role_changed",
        actor=actor,
        now=now,
        ip=ip,
        detail={"from": before.value, "to": role.value},
    )
    return True


def disable(
    session: AnySession,
    user: StaffUser,
    *,
    actor: audit.Actor | None,
    now: datetime,
    ip: str | None = None,
) -> bool:
    """Disable the account and end its sessions; return whether it was enabled."""
    if not user.is_active:
        return False
    if actor is not None and actor.id == user.id:
        raise SelfLockout("you can't disable your own account; ask another admin")
    if user.role == Role.ADMIN:
        _keep_an_admin(session, user)
    user.disabled_at = now
    user.session_token = secrets.token_hex(16)  # signed-in devices are out at their next request
    record_event(session, user, "staff.disabled", actor=actor, now=now, ip=ip)
    return True


def enable(
    session: AnySession,
    user: StaffUser,
    *,
    actor: audit.Actor | None,
    now: datetime,
    ip: str | None = None,
) -> bool:
    """Let a disabled account sign in again; return whether it was disabled."""
    if user.is_active:
        return False
    user.disabled_at = None
    record_event(session, user, "staff.enabled", actor=actor, now=now, ip=ip)
    return True


def _keep_an_admin(session: AnySession, leaving: StaffUser) -> None:
    """Refuse a change that would leave no enabled admin.

    On PostgreSQL the enabled admins' rows stay locked until the commit, so two admins
    demoting each other at the same moment can't both succeed.
    """
    admins = select(StaffUser.id).where(
        StaffUser.role == Role.ADMIN, StaffUser.disabled_at.is_(None)
    )
    ids = set(session.scalars(admins.with_for_update()))
    if not ids - {leaving.id}:
        raise LastAdmin("this is the last enabled admin; make another admin first")
