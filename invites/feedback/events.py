"""Bounce and complaint events about an address: suppress it, honour a complaint. No HTTP here.

An event arrives already reduced to the address's keyed hash; neither the address nor the
event's free-text detail is stored, and log lines carry at most an enhanced status code.

- hard_bounce: the address is dead. It is suppressed ("hard_bounce") and its open invitations
  are closed.
- complaint: its owner reported our mail as spam. It is suppressed ("complaint"), every contact
  with that address withdraws all marketing categories (consent log source "complaint"), and its
  open invitations are closed.
- soft_bounce: a temporary failure. It is counted per address in a window of
  `soft_bounce_window_days` (a new window starts once the old one has passed); when the count
  reaches `soft_bounce_limit`, repeated soft bounces are treated as a hard bounce: suppressed
  with reason "hard_bounce" and open invitations closed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import case, select, update

from invites.accounts import contacts
from invites.accounts.models import Contact
from invites.campaigns import attribution
from invites.core.config import Settings
from invites.core.db import AnySession, insert_ignore
from invites.core.suppression import Reason, suppress
from invites.feedback.models import SoftBounceCount
from invites.invitations import lifecycle as invitations
from mailer.status_codes import ENHANCED

log = logging.getLogger(__name__)

EventType = Literal["hard_bounce", "soft_bounce", "complaint"]
TYPES: tuple[EventType, ...] = ("hard_bounce", "soft_bounce", "complaint")


@dataclass(frozen=True)
class Event:
    """One reported event about an address, held only as its keyed hash."""

    email_hash: str
    type: EventType
    #: Read only for an enhanced status code to log; never stored (it may quote the address).
    detail: str | None = None
    #: The Message-ID of the mail it is about, if the reporter named it: never stored, read
    #: only for the campaign it names.
    message_id: str | None = None


def record_all(
    session: AnySession, events: Iterable[Event], settings: Settings, now: datetime
) -> int:
    """Apply events; return how many addresses they newly suppressed. The caller commits."""
    events = list(events)
    added = record_each(session, events, settings, now)
    return len({e.email_hash for e, new in zip(events, added, strict=True) if new})


def record_each(
    session: AnySession, events: list[Event], settings: Settings, now: datetime
) -> list[bool]:
    """Apply events; return, in their order, whether each newly suppressed its address."""
    added = [False] * len(events)
    # Taking row locks in hash order means two concurrent batches touching the same addresses
    # wait for each other instead of deadlocking. The sort is stable: per address, order holds.
    for i in sorted(range(len(events)), key=lambda i: events[i].email_hash):
        added[i] = record(session, events[i], settings, now)
    return added


def record(session: AnySession, event: Event, settings: Settings, now: datetime) -> bool:
    """Apply one event; return whether it added a suppression for the address."""
    found = ENHANCED.search(event.detail) if event.detail else None
    status = found.group(0) if found else "-"
    if event.type == "soft_bounce":
        seen = count_soft_bounce(session, event.email_hash, settings, now)
        if seen < settings.soft_bounce_limit:
            log.info("soft bounce %d of %d (status %s)", seen, settings.soft_bounce_limit, status)
            return False
        # Mail that keeps failing "temporarily" is as undeliverable as a dead address.
        reason = Reason.HARD_BOUNCE
    else:
        reason = Reason(event.type)
    added = suppress(session, event.email_hash, reason, now)
    withdrawn = 0
    if event.type == "complaint":
        for contact in session.scalars(
            select(Contact).where(Contact.email_hash == event.email_hash)
        ):
            contacts.withdraw_marketing(session, contact, "complaint", settings, now)
            withdrawn += 1
    if added and reason in (Reason.HARD_BOUNCE, Reason.COMPLAINT):
        name = "complained" if reason == Reason.COMPLAINT else "bounced"
        attribution.attribute_report(session, event.email_hash, event.message_id, name)
    closed = invitations.close_for_address(session, event.email_hash, now)
    log.info(
        "%s (status %s): suppression %s, %d contact(s) withdrew marketing, %d invitation(s) closed",
        event.type,
        status,
        "added" if added else "already held",
        withdrawn,
        closed,
    )
    return added


def count_soft_bounce(
    session: AnySession, email_hash: str, settings: Settings, now: datetime
) -> int:
    """Count a soft bounce in the address's current window and return the window's count."""
    table = SoftBounceCount.__table__
    insert_ignore(
        session, table, {"email_hash": email_hash, "window_start": now, "count": 0}, ["email_hash"]
    )
    expired = table.c.window_start <= now - timedelta(days=settings.soft_bounce_window_days)
    # One UPDATE: on PostgreSQL a concurrent caller waits for the row lock and then recomputes
    # from the committed row, so every caller sees its own count and exactly one reaches the limit.
    stmt = (
        update(table)
        .where(table.c.email_hash == email_hash)
        .values(
            count=case((expired, 1), else_=table.c.count + 1),
            window_start=case((expired, now), else_=table.c.window_start),
        )
        .returning(table.c.count)
    )
    return int(session.execute(stmt).scalar_one())


def forget_old_windows(session: AnySession, before: datetime) -> int:
    """Delete soft-bounce counts whose window began before `before` (they can no longer add
    up)."""
    result = session.execute(
        SoftBounceCount.__table__.delete().where(SoftBounceCount.window_start < before)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
