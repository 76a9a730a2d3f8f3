"""Aggregate statistics endpoints."""

from __future__ import annotations

import re
from datetime import date, timedelta

from flask import Blueprint, Response, request
from pydantic import BaseModel, Field

from invites.api import spec
from invites.api.auth import require
from invites.api.schemas import respond
from invites.core.db import db, utcnow
from invites.core.errors import invalid
from invites.invitations import stats

bp = Blueprint("api_stats", __name__, url_prefix="/api/v1")

MAX_RANGE_DAYS = 366
#: The dates a range may name. Without bounds, to=0001-01-01 or to=9999-12-31 overflowed
#: Python's dates while the default range or the days were worked out (a 500).
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)
#: YYYY-MM-DD within those years; fromisoformat alone also takes 20261101 and 2026-W44-1.
DATE_PATTERN = r"^2[0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


class Counts(BaseModel):
    """Aggregate invitation counts (the names are stats.COUNTERS)."""

    sent: int
    accepted: int
    removed: int
    expired: int
    bounced: int
    suppressed: int = Field(
        description="Requests answered 202 that sent nothing: the address was suppressed, "
        "already a member, or invited within the address window."
    )


class DayStats(Counts):
    """Aggregate invitation counts for one day."""

    day: date


class InvitationStats(BaseModel):
    """Per-day invitation counts over a range, and their totals."""

    from_: date = Field(serialization_alias="from")
    to: date
    days: list[DayStats]
    totals: Counts


class InviterStats(BaseModel):
    """One inviter's own counts: what they asked for, never what was sent."""

    inviter_id: str
    invited: int = Field(
        description="Invitations the API accepted (202) from this inviter, whether or not an "
        "email went out: that depends on the address, which the API never reveals. Requests "
        "refused over a limit (429) are not counted."
    )
    accepted: int = Field(description="Invitations of this inviter that the invitee accepted.")


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        if not re.fullmatch(DATE_PATTERN, raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise invalid(
            name,
            f"expected a date from {EARLIEST} to {LATEST}",
            f"Dates are YYYY-MM-DD, from {EARLIEST} to {LATEST}.",
        ) from exc


@bp.get("/stats/invitations")
@require("stats")
def invitation_stats() -> Response:
    """Return per-day invitation counts between `from` and `to` (default: the last 30 days)."""
    last = _date_arg("to") or utcnow().date()
    first = _date_arg("from") or max(EARLIEST, last - timedelta(days=29))
    if first > last:
        raise invalid("from", "after 'to'", "'from' must not be after 'to'.")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise invalid("to", "range too long", f"The range may span at most {MAX_RANGE_DAYS} days.")
    days, totals = stats.invitation_days(db.session, first, last)
    return respond(
        InvitationStats(
            from_=first,
            to=last,
            days=[DayStats(day=day, **counts) for day, counts in days],
            totals=Counts(**totals),
        )
    )


@bp.get("/inviters/<inviter_id>/stats")
@require("stats")
def inviter_stats(inviter_id: str) -> Response:
    """Return how many invitations an inviter made and how many were accepted."""
    totals = stats.inviter_totals(db.session, inviter_id)
    return respond(
        InviterStats(inviter_id=inviter_id, invited=totals.invited, accepted=totals.accepted)
    )


MODELS = [InvitationStats, InviterStats]
PATHS = {
    "/api/v1/stats/invitations": {
        "get": {
            "summary": "Per-day invitation counts (scope: stats)",
            "description": f"Days from {EARLIEST} to {LATEST}; `from` must not be after `to`, "
            f"and the range may span at most {MAX_RANGE_DAYS} days (else 422).",
            "parameters": [
                spec.query_date("from", "First day, default 29 days before `to`.", DATE_PATTERN),
                spec.query_date("to", "Last day, default today (UTC).", DATE_PATTERN),
            ],
            "responses": {
                "200": spec.json_response(InvitationStats, "Counts"),
                **spec.problems(401, 403, 422),
            },
        }
    },
    "/api/v1/inviters/{inviter_id}/stats": {
        "get": {
            "summary": "How many invitations an inviter made, and were accepted (scope: stats)",
            "parameters": [spec.path_param("inviter_id", "The inviter's id in the app.")],
            "responses": {
                "200": spec.json_response(InviterStats, "Counts"),
                **spec.problems(401, 403, 422),
            },
        }
    },
}
