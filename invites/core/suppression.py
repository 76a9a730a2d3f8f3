"""The one suppression list: keyed hashes of addresses that must not be contacted, and why."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from invites.core.db import AnySession, insert_ignore
from invites.core.models import Suppression

REASONS = ("removed", "unsubscribed_all", "hard_bounce", "complaint", "manual")

#: Which reasons stop which stream. Service mail stops only for a dead address or a spam
#: report; an invitation removal ("don't invite me") doesn't stop the mail of an account
#: the same person opens later; invitations stop for every reason.
BLOCKS = {
    "invitation": REASONS,
    "service": ("hard_bounce", "complaint", "manual"),
    "marketing": ("unsubscribed_all", "hard_bounce", "complaint", "manual"),
}


def suppress(session: AnySession, email_hash: str, reason: str, now: datetime) -> bool:
    """Record a reason not to contact this address; return False if it was already recorded."""
    if reason not in REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    return insert_ignore(
        session,
        Suppression.__table__,
        {"email_hash": email_hash, "reason": reason, "created_at": now},
        ["email_hash", "reason"],
    )


def is_suppressed(
    session: AnySession, email_hash: str, reasons: Iterable[str] | None = None
) -> bool:
    """Whether the address is suppressed for any reason (or for one of `reasons`)."""
    query = select(Suppression.id).where(Suppression.email_hash == email_hash)
    if reasons is not None:
        query = query.where(Suppression.reason.in_(list(reasons)))
    return session.scalar(query.limit(1)) is not None


def reasons(session: AnySession, email_hash: str) -> list[str]:
    """Every reason recorded for this address."""
    return list(
        session.scalars(
            select(Suppression.reason)
            .where(Suppression.email_hash == email_hash)
            .order_by(Suppression.reason)
        )
    )
