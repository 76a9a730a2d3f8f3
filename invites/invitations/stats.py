"""Aggregate invitation statistics: counts only, never an address or an inviter-invitee pair."""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

from sqlalchemy import func, select

from invites.core.db import AnySession
from invites.invitations.models import InvitationDailyStats, InviterDailyCount

COUNTERS = ("sent", "accepted", "removed", "expired", "bounced", "suppressed")


def invitation_days(
    session: AnySession, first: date, last: date
) -> tuple[list[tuple[date, dict[str, int]]], dict[str, int]]:
    """Per-day counters from first to last inclusive (days without activity are zeros), totals."""
    rows = {
        row.day: row
        for row in session.scalars(
            select(InvitationDailyStats).where(InvitationDailyStats.day.between(first, last))
        )
    }
    days: list[tuple[date, dict[str, int]]] = []
    totals = dict.fromkeys(COUNTERS, 0)
    # Counted in offsets, not by stepping a date past `last`: that step overflows at date.max.
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        row = rows.get(day)
        counts = {name: int(getattr(row, name)) if row else 0 for name in COUNTERS}
        for name, value in counts.items():
            totals[name] += value
        days.append((day, counts))
    return days, totals


class InviterTotals(NamedTuple):
    """What one inviter did, and what came of it."""

    invited: int
    accepted: int


def inviter_totals(session: AnySession, inviter_id: str) -> InviterTotals:
    """How many invitations the API took from an inviter, and how many were accepted.

    `requested`, not `sent`: whether an invitation was sent depends on the address (already
    invited, removed, a member), which the API's answer never reveals, so neither may this.
    A request refused over a limit is not in it.
    """
    invited, accepted = session.execute(
        select(
            func.coalesce(func.sum(InviterDailyCount.requested), 0),
            func.coalesce(func.sum(InviterDailyCount.accepted), 0),
        ).where(InviterDailyCount.inviter_id == inviter_id)
    ).one()
    return InviterTotals(int(invited), int(accepted))
