"""An inviter's invitation limits, counted per day in the database (shared by every process)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from invites.core.db import AnySession, bump_one
from invites.invitations.models import InviterDailyCount

#: The monthly limit is a rolling window of this many days, today included.
MONTH_DAYS = 30


@dataclass(frozen=True)
class LimitExceeded(Exception):
    """The inviter is over a limit; retry_after is in whole seconds."""

    limit: str
    retry_after: int


def count_day(session: AnySession, inviter_id: str, now: datetime, per_day: int) -> None:
    """Count one request for this inviter today, or raise LimitExceeded.

    The caller rolls back on LimitExceeded, so a refused request is not counted.
    """
    key = {"inviter_id": inviter_id, "day": now.date()}
    # One upsert counts the request and locks today's row, so concurrent requests of one
    # inviter queue here on PostgreSQL (SQLite serialises all writers anyway).
    if bump_one(session, InviterDailyCount.__table__, key, "requested") > per_day:
        raise day_exceeded(now)


def day_exceeded(now: datetime) -> LimitExceeded:
    """The per-day limit, with a retry at the next midnight UTC."""
    today = now.date()
    tomorrow = datetime(today.year, today.month, today.day) + timedelta(days=1)
    return LimitExceeded("per_day", max(1, int((tomorrow - now).total_seconds()) + 1))


def month_total(inviter_id: Any, first_day: Any) -> Any:
    """A scalar subquery: the inviter's requests from first_day on (today's included)."""
    t = InviterDailyCount.__table__
    return (
        select(func.coalesce(func.sum(t.c.requested), 0))
        .where(t.c.inviter_id == inviter_id, t.c.day >= first_day)
        .scalar_subquery()
    )


def first_day(now: datetime) -> date:
    """The first day of the rolling month that ends today."""
    return now.date() - timedelta(days=MONTH_DAYS - 1)


def check_month(
    session: AnySession, inviter_id: str, now: datetime, total: int, per_month: int
) -> None:
    """Raise LimitExceeded if `total` (this month's requests, this one included) is too many."""
    if total > per_month:
        raise month_exceeded(session, inviter_id, now, per_month)


def month_exceeded(
    session: AnySession, inviter_id: str, now: datetime, per_month: int, uncounted: int = 0
) -> LimitExceeded:
    """The rolling monthly limit, with a retry when enough of the oldest days leave the window.

    `uncounted` is how many requests over the limit are not in the stored counts (the refused
    one, when the database already took it back out).
    """
    rows = session.execute(
        select(InviterDailyCount.day, InviterDailyCount.requested)
        .where(InviterDailyCount.inviter_id == inviter_id, InviterDailyCount.day >= first_day(now))
        .order_by(InviterDailyCount.day)
    ).all()
    excess = sum(requested for _day, requested in rows) + uncounted - per_month
    leaves = now + timedelta(days=1)
    for day, requested in rows:
        excess -= requested
        if excess <= 0:
            leaves = datetime(day.year, day.month, day.day) + timedelta(days=MONTH_DAYS)
            break
    return LimitExceeded("per_month", max(1, int((leaves - now).total_seconds()) + 1))
