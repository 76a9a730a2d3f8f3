"""Aggregate statistics endpoints."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, Response, jsonify, request

from .. import stats
from ..db import db, utcnow
from ..errors import ApiProblem
from . import spec
from .auth import require
from .schemas import InvitationStats, InviterStats

bp = Blueprint("api_stats", __name__, url_prefix="/api/v1")

MAX_RANGE_DAYS = 366


def _date_arg(name: str, default: date) -> date:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ApiProblem(
            422,
            "Invalid request",
            "Dates are YYYY-MM-DD.",
            slug="validation",
            errors=[{"field": name, "message": "expected a date YYYY-MM-DD"}],
        ) from exc


@bp.get("/stats/invitations")
@require("stats")
def invitation_stats() -> Response:
    """Return per-day invitation counts between `from` and `to` (default: the last 30 days)."""
    today = utcnow().date()
    last = _date_arg("to", today)
    first = _date_arg("from", last - timedelta(days=29))
    if first > last:
        raise ApiProblem(
            422,
            "Invalid request",
            "'from' must not be after 'to'.",
            slug="validation",
            errors=[{"field": "from", "message": "after 'to'"}],
        )
    if (last - first).days >= MAX_RANGE_DAYS:
        raise ApiProblem(
            422,
            "Invalid request",
            f"The range may span at most {MAX_RANGE_DAYS} days.",
            slug="validation",
            errors=[{"field": "to", "message": "range too long"}],
        )
    return jsonify(stats.invitation_days(db.session, first, last))


@bp.get("/inviters/<inviter_id>/stats")
@require("stats")
def inviter_stats(inviter_id: str) -> Response:
    """Return one inviter's sent and accepted counts."""
    return jsonify(stats.inviter_totals(db.session, inviter_id))


MODELS = [InvitationStats, InviterStats]
PATHS = {
    "/api/v1/stats/invitations": {
        "get": {
            "summary": "Per-day invitation counts (scope: stats)",
            "parameters": [
                spec.query_date("from", "First day, default 29 days before `to`."),
                spec.query_date("to", "Last day, default today (UTC)."),
            ],
            "responses": {
                "200": spec.json_response(InvitationStats, "Counts"),
                **spec.problems(401, 403, 422),
            },
        }
    },
    "/api/v1/inviters/{inviter_id}/stats": {
        "get": {
            "summary": "One inviter's sent and accepted counts (scope: stats)",
            "parameters": [spec.path_param("inviter_id", "The inviter's id in the app.")],
            "responses": {
                "200": spec.json_response(InviterStats, "Counts"),
                **spec.problems(401, 403, 422),
            },
        }
    },
}
