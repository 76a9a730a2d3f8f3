"""The one suppression list: keyed hashes of addresses that must not be contacted, and why."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select

from invites.core.db import AnySession, insert_ignore
from invites.core.models import Suppression


class Reason(StrEnum):
    """Why an address must not be contacted."""

    #: An invitee asked not to be invited (the removal link).
    REMOVED = "removed"
    #: "Unsubscribe from all marketing" on the preference page.
    UNSUBSCRIBED_ALL = "unsubscribed_all"
    #: The address does not exist (or kept failing).
    HARD_BOUNCE = "hard_bounce"
    #: Its owner reported our mail as spam.
    COMPLAINT = "complaint"
    MANUAL = "manual"


REASONS = tuple(Reason)


class Stream(StrEnum):
    """The kinds of mail the suppression list stops differently."""

    INVITATION = "invitation"
    SERVICE = "service"
    MARKETING = "marketing"


#: Which reasons stop which stream. Service mail stops only for a dead address or a spam
#: report; an invitation removal ("don't invite me") doesn't stop the mail of an account
#: the same person opens later; invitations stop for every reason.
BLOCKS: dict[str, tuple[Reason, ...]] = {
    Stream.INVITATION: REASONS,
    Stream.SERVICE: (Reason.HARD_BOUNCE, Reason.COMPLAINT, Reason.MANUAL),
    Stream.MARKETING: (
        Reason.UNSUBSCRIBED_ALL,
        Reason.HARD_BOUNCE,
        Reason.COMPLAINT,
        Reason.MANUAL,
    ),
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
