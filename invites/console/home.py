"""The console's home page: what needs someone, what is under way, and how mail is doing.

Counts only, never a person. Each part is shown to the roles that may open the page where
it is handled (campaigns: marketing and admins; queues: admins; data requests: the privacy
role and admins), so a part and the page it links to never disagree about who may see them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template

from invites.console import dashboard
from invites.console.access import current_staff, may_open
from invites.core.db import db, utcnow
from invites.staff import Role

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> str:
    """At a glance: needs attention, campaigns under way and finished, unsubscribes, bounces
    and complaints, mail waiting and failing, data requests; then the sections."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    now = utcnow()
    parts: dict[str, Any] = {}
    if may_open("console.campaigns.index"):
        parts["attention"] = dashboard.attention(db.session, now)
        parts["under_way"] = dashboard.under_way(db.session, app)
        parts["finished"] = dashboard.finished(db.session)
    if may_open("console.privacy_requests.index"):
        due_days = app.config["SETTINGS"].data_request_due_days
        parts["requests"] = dashboard.data_requests(db.session, now, due_days)
    # Feedback concerns marketing and privacy alike; every role sees these counts.
    parts["feedback"] = dashboard.feedback(db.session, now)
    if current_staff().role == Role.ADMIN:
        parts["queues"] = dashboard.queues(app)
        parts["outbox"] = dashboard.outbox(db.session, now)
    return render_template("console/home.html", periods=dashboard.PERIODS, **parts)
