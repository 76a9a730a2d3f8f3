"""Passwords that can be recovered: change your own, a reset link an admin sends, and a reset
at the command line.

A reset link is an itsdangerous token with its own salt (`staff_reset`) naming the staff
user's row id and a digest of the account's state: its password hash (a new one has a new
salt, even for the same password), its last sign-in and whether it is disabled. Setting a
password, signing in or being disabled changes that digest, so a link works once, and no
longer once its owner remembered the password and signed in. Nothing needs recording to
make it single-use, and the link holds no address. Tokens expire after an hour and are
checked against SECRET_KEY and its fallbacks, so a key rotation doesn't break a link in
flight.

Every change here also replaces the user's session token: a new password ends every session
of that user (but the one that changed it, which the console signs in again).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from datetime import datetime

from invites.core import audit
from invites.core.db import AnySession
from invites.core.tokens import TokenExpired, TokenInvalid, Tokens
from invites.delivery import relay
from invites.delivery.models import OutboundMessage
from invites.staff import passwords, users
from invites.staff.errors import (
    ResetLinkExpired,
    ResetLinkInvalid,
    ResetLinkUsed,
    StaffError,
    WrongPassword,
)
from invites.staff.models import StaffUser

log = logging.getLogger(__name__)

#: The token purpose (its salt is in invites.core.tokens.SALTS).
PURPOSE = "staff_reset"
#: How long a reset link works.
RESET_LINK_SECONDS = 3600
#: The outbox kind and the email template of a reset link.
KIND = "staff"
TEMPLATE = "staff_password_reset"


def account_state(user: StaffUser) -> str:
    """A digest of what a reset link must find unchanged: password, last sign-in, disabled."""
    parts = (user.password_hash, str(user.last_login_at), str(user.disabled_at))
    # Signed inside the token, so it needs no key; a digest of a salted argon2 hash says
    # nothing about the password.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def reset_token(tokens: Tokens, user: StaffUser) -> str:
    """A reset link's token for the user as they are now."""
    return tokens.make(PURPOSE, f"{user.id}.{account_state(user)}")


def user_for_reset(session: AnySession, tokens: Tokens, token: str) -> StaffUser:
    """The staff user a reset token may set a password for, or ResetLinkRefused saying why."""
    try:
        value = tokens.load(PURPOSE, token, RESET_LINK_SECONDS)
    except TokenExpired as exc:
        raise ResetLinkExpired(
            "This link has expired: a reset link works for one hour. Ask an admin to send "
            "a new one."
        ) from exc
    except TokenInvalid as exc:
        raise ResetLinkInvalid(
            "This link is not valid. Open it exactly as it is in the email, or ask an admin "
            "to send a new one."
        ) from exc
    row_id, _, state = value.partition(".")
    user = users.get(session, int(row_id)) if row_id.isdigit() else None
    if user is None:
        raise ResetLinkInvalid("This link is not valid: the account no longer exists.")
    if not secrets.compare_digest(account_state(user), state):
        raise ResetLinkUsed(
            "This link has been used already, or the account's password or sign-in changed "
            "since it was sent. Ask an admin for a new one if you still need it."
        )
    return user


def send_reset_link(
    session: AnySession,
    user: StaffUser,
    *,
    actor: audit.Actor | None,
    now: datetime,
    ip: str | None = None,
) -> OutboundMessage:
    """Queue a reset-link email to the user, through the outbox like service mail.

    The row holds the user's id and account state, never the link: the worker signs the
    link when it sends (`invites.staff.mail`), and skips it if the state moved meanwhile.
    """
    if not user.is_active:
        raise StaffError("the account is disabled; enable the account first")
    msg = OutboundMessage(
        public_id=secrets.token_urlsafe(12),
        kind=KIND,
        category="service",
        locale="en",
        template=TEMPLATE,
        context=json.dumps({"staff_user_id": user.id, "state": account_state(user)}),
        created_at=now,
        next_attempt_at=now,
    )
    session.add(msg)
    session.flush()
    relay.wake(session, msg.id)
    users.record_event(
        session,
        user,
        "staff.password_reset_sent",
        actor=actor,
        now=now,
        ip=ip,
        detail={"message": msg.public_id, "via": users.via(actor)},
    )
    log.info("password reset link for staff user %s queued as message %s", user.id, msg.id)
    return msg


def change_password(
    session: AnySession,
    user: StaffUser,
    current: str,
    new: str,
    *,
    now: datetime,
    ip: str | None = None,
) -> None:
    """Set the user's own new password after checking the current one; end other sessions."""
    if not passwords.verify(user.password_hash, current):
        users.record_event(
            session,
            user,
            "staff.password_change_failed",
            actor=user,
            now=now,
            ip=ip,
            detail={"reason": "wrong_password"},
        )
        raise WrongPassword("the current password is not right")
    _set(user, new)
    users.record_event(session, user, "staff.password_changed", actor=user, now=now, ip=ip)


def reset_password(
    session: AnySession,
    user: StaffUser,
    new: str,
    *,
    actor: audit.Actor | None,
    via: str,
    now: datetime,
    ip: str | None = None,
) -> None:
    """Set a new password without the old one (a reset link, or the CLI); end every session."""
    _set(user, new)
    users.record_event(
        session, user, "staff.password_reset", actor=actor, now=now, ip=ip, detail={"via": via}
    )
    log.info("password of staff user %s reset (%s)", user.id, via)


def _set(user: StaffUser, new: str) -> None:
    user.password_hash = passwords.hash_password(new)  # checks the length first
    user.session_token = secrets.token_hex(16)
