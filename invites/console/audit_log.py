"""The audit log page: the latest events, or those about one thing."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from invites.console.access import requires_role
from invites.core import audit
from invites.core.db import db
from invites.staff import Role

bp = Blueprint("audit_log", __name__)


@bp.get("")
@requires_role(Role.ADMIN)
def index() -> str:
    """Show the latest audit events, newest first (or a target's: ?type=staff_user&id=3)."""
    kind, ident = request.args.get("type", ""), request.args.get("id", "")
    if kind and ident:
        events = audit.events_for(db.session, kind, ident)
    else:
        events = audit.recent(db.session)
    return render_template("console/audit_log.html", events=events, kind=kind, ident=ident)
