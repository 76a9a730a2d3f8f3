"""The audit log page: every event, narrowed by who, what, which thing and when; paged."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_login import current_user

from invites.console.access import requires_role
from invites.core import audit, zones
from invites.core.db import db
from invites.staff import Role

bp = Blueprint("audit_log", __name__)

#: The longest text a filter field takes; more is a typing accident, not a search.
FIELD_LENGTH = 200

#: Where an event's object is shown, by its target type: (endpoint, the id's argument name).
#: Types not here (or ids that aren't whole numbers where one is needed) show as plain text.
_TARGET_PAGES: dict[str, tuple[str, str | None]] = {
    "campaign": ("console.campaigns.show", "campaign_id"),
    "policy_version": ("console.policies.show", "version_id"),
    "staff_user": ("console.staff_users.index", None),
    "api_key": ("console.api_keys.index", None),
}


def _viewer_zone() -> tzinfo:
    zone = getattr(current_user, "time_zone", None)
    return zones.zone(zone) if zones.is_zone(zone) else UTC


def _utc_start(day: date, tz: tzinfo) -> datetime:
    """Midnight starting `day` in the viewer's zone, as the naive UTC time events are kept in."""
    return datetime.combine(day, time(), tz).astimezone(UTC).replace(tzinfo=None)


def _day(typed: str, field: str, problems: dict[str, str]) -> date | None:
    if not typed:
        return None
    try:
        return date.fromisoformat(typed)
    except ValueError:
        problems[field] = "Enter a date as YYYY-MM-DD, for example 2026-12-07."
        return None


def target_link(event: audit.AuditEvent) -> str | None:
    """The console page about what `event` concerns, if it has one."""
    found = _TARGET_PAGES.get(event.target_type or "")
    if found is None or event.target_id is None:
        return None
    endpoint, argument = found
    if argument is None:
        return url_for(endpoint)
    if not event.target_id.isdigit():
        return None
    values: dict[str, Any] = {argument: int(event.target_id)}
    return url_for(endpoint, **values)


@bp.get("")
@requires_role(Role.ADMIN)
def index() -> tuple[str, int]:
    """Show audit events newest first, filtered by actor, action, object and dates, paged."""
    args = request.args
    # `type` and `id` are the older names of the object filter (links from other pages).
    typed = {
        "actor": args.get("actor", "").strip(),
        "action": args.get("action", "").strip(),
        "target_type": (args.get("target_type") or args.get("type") or "").strip(),
        "target_id": (args.get("target_id") or args.get("id") or "").strip(),
        "since": args.get("since", "").strip(),
        "until": args.get("until", "").strip(),
    }
    problems = {
        name: f"At most {FIELD_LENGTH} characters."
        for name, value in typed.items()
        if len(value) > FIELD_LENGTH
    }
    since = _day(typed["since"], "since", problems)
    until = _day(typed["until"], "until", problems)
    if since and until and until < since:
        problems["until"] = "The last day comes before the first."
    page_arg = args.get("page", "1")
    number = int(page_arg) if page_arg.isdigit() and len(page_arg) < 9 else 1
    if problems:
        found = audit.Page([], 1, 1, 0)
    else:
        tz = _viewer_zone()
        where = audit.Filter(
            actor=typed["actor"],
            action=typed["action"],
            target_type=typed["target_type"],
            target_id=typed["target_id"],
            since=_utc_start(since, tz) if since else None,
            # Up to the end of the last day the viewer named, in their zone.
            before=_utc_start(until + timedelta(days=1), tz) if until else None,
        )
        found = audit.search(db.session, where, number)
    filtered = any(typed.values())
    links = {event.id: target_link(event) for event in found.events}
    return render_template(
        "console/audit_log.html",
        found=found,
        events=found.events,
        links=links,
        typed=typed,
        problems=problems,
        filtered=filtered,
        target_types=audit.target_types(db.session),
        query={name: value for name, value in typed.items() if value},
    ), (400 if problems else 200)
