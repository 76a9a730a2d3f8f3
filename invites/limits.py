"""An inviter's invitation limits, counted per day in the database (shared by every process)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from .db import AnySession, bump
from .models import InviterDailyCount

#: The monthly limit is a rolling window of this many days, today included.
MONTH_DAYS = 30


@dataclass(frozen=True)
class LimitExceeded(Exception):
    """The inviter is over a limit; retry_after is in whole seconds."""

    limit: str
    retry_after: int


def _midnight_after(day_start: datetime, days: int) -> datetime:
    return day_start + timedelta(days=days)


def take(session: AnySession, inviter_id: str, now: datetime, per_day: int, per_month: int) -> None:
    """Count one request for this inviter, or raise LimitExceeded without counting it."""
    today = now.date()
    # Creating the row first and then locking it serialises concurrent requests of one
    # inviter on PostgreSQL (SQLite serialises all writers anyway), so no burst slips past.
    bump(
        session, InviterDailyCount.__table__, {"inviter_id": inviter_id, "day": today}, requested=0
    )
    session.execute(
        select(InviterDailyCount.requested)
        .where(InviterDailyCount.inviter_id == inviter_id, InviterDailyCount.day == today)
        .with_for_update()
    )
    first_day = today - timedelta(days=MONTH_DAYS - 1)
    rows = session.execute(
        select(InviterDailyCount.day, InviterDailyCount.requested)
        .where(InviterDailyCount.inviter_id == inviter_id, InviterDailyCount.day >= first_day)
        .order_by(InviterDailyCount.day)
    ).all()
    counts = {day: requested for day, requested in rows}
    start_of_today = datetime(today.year, today.month, today.day)
    if counts.get(today, 0) >= per_day:
        wait = _midnight_after(start_of_today, 1) - now
        raise LimitExceeded("per_day", max(1, int(wait.total_seconds()) + 1))
    total = sum(counts.values())
    if total >= per_month:
        # Wait until enough of the oldest days leave the rolling window.
        excess = total - per_month + 1
        for day, requested in rows:
            excess -= requested
            if excess <= 0:
                leaves = datetime(day.year, day.month, day.day) + timedelta(days=MONTH_DAYS)
                raise LimitExceeded("per_month", max(1, int((leaves - now).total_seconds()) + 1))
    bump(
        session, InviterDailyCount.__table__, {"inviter_id": inviter_id, "day": today}, requested=1
    )
