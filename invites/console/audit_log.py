"""The audit log page: every event, narrowed by who, what, which thing and when; paged."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for

from invites.console.access import requires_role
from invites.console.search_forms import SearchForm, page_number
from invites.core import audit
from invites.core.db import db
from invites.staff import Role, users

bp = Blueprint("audit_log", __name__)

#: Where an event's object is shown, by its target type: (endpoint, the id's argument name).
#: Types not here (or ids that aren't whole numbers where one is needed) show as plain text.
_TARGET_PAGES: dict[str, tuple[str, str | None]] = {
    "campaign": ("console.campaigns.show", "campaign_id"),
    "policy_version": ("console.policies.show", "version_id"),
    "staff_user": ("console.staff_users.index", None),
    "api_key": ("console.api_keys.index", None),
}

_FIELDS = ("actor", "action", "target_type", "target_id", "since", "until")


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
    # `type` and `id` are the older names of the object filter (links from other pages).
    args = {
        **request.args,
        "target_type": request.args.get("target_type") or request.args.get("type", ""),
        "target_id": request.args.get("target_id") or request.args.get("id", ""),
    }
    form = SearchForm.read(args, _FIELDS)
    names = users.addresses(db.session)
    since, before = form.day_range("since", "until")
    if form.problems:
        found = audit.Page([], 1, 1, 0)
    else:
        where = audit.Filter(
            actor=form.typed["actor"],
            # The log names staff accounts, not addresses: part of an address finds the
            # accounts whose address (opened here) holds it.
            actor_ids=users.ids_matching(names, form.typed["actor"]),
            action=form.typed["action"],
            target_type=form.typed["target_type"],
            target_id=form.typed["target_id"],
            since=since,
            before=before,
        )
        found = audit.search(db.session, where, page_number(request.args))
    return render_template(
        "console/audit_log.html",
        found=found,
        events=found.events,
        links={event.id: target_link(event) for event in found.events},
        names=names,
        typed=form.typed,
        problems=form.problems,
        filtered=form.filtered,
        target_types=audit.target_types(db.session),
        query=form.query(),
    ), (400 if form.problems else 200)
