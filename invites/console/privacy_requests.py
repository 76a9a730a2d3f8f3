"""The privacy role's page: start a data request for someone who wrote in, record "stop all
marketing" for an address, and follow every data request (overdue ones flagged).

Staff never see what is held: a request started here mails its link to the address itself,
which proves who is asking exactly as the public form does. The list shows keyed hashes,
states and dates, never an address.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from invites.console.access import client_ip, current_staff, requires_role
from invites.core.addresses import InvalidAddress, address_hash, normalize
from invites.core.db import db, utcnow
from invites.core.locale import LOCALES
from invites.datarequests import flow
from invites.datarequests.models import COMPLETED, DataRequest, RequestStatus
from invites.datarequests.throttle import throttle
from invites.staff import Role

bp = Blueprint("privacy_requests", __name__)
#: Rows the list shows at most (newest first).
LIMIT = 200


def _listed(status: str, source: str, overdue: bool) -> list[tuple[DataRequest, bool]]:
    settings = current_app.config["SETTINGS"]
    due = utcnow() - timedelta(days=settings.data_request_due_days)
    query = select(DataRequest).order_by(DataRequest.id.desc()).limit(LIMIT)
    if status:
        query = query.where(DataRequest.status == status)
    if source:
        query = query.where(DataRequest.source == source)
    if overdue:
        query = query.where(
            DataRequest.status.not_in(list(COMPLETED)), DataRequest.created_at < due
        )
    rows = db.session.scalars(query).all()
    # Not answered within the due days: a link never used, or voided by a newer one that
    # wasn't answered either shows on its own row.
    return [(r, r.status not in COMPLETED and r.created_at < due) for r in rows]


def _page(status_code: int = 200, **form: Any) -> tuple[str, int]:
    status = request.args.get("status", "")
    source = request.args.get("source", "")
    overdue = request.args.get("overdue") == "1"
    return render_template(
        "console/privacy/index.html",
        rows=_listed(status, source, overdue),
        statuses=[s.value for s in RequestStatus],
        filters={"status": status, "source": source, "overdue": overdue},
        locales=LOCALES,
        due_days=current_app.config["SETTINGS"].data_request_due_days,
        form={"email": "", "locale": "en", "stop_email": "", "problems": {}, **form},
    ), status_code


@bp.get("")
@requires_role(Role.PRIVACY, Role.ADMIN)
def index() -> tuple[str, int]:
    """The forms, and every data request with filters (?status=, ?source=, ?overdue=1)."""
    return _page()


def _address(field: str) -> tuple[str | None, str]:
    typed = request.form.get(field, "")[:400]
    try:
        return normalize(typed.strip()), typed
    except InvalidAddress as exc:
        return None, f"{typed}\0{exc}"


@bp.post("/requests")
@requires_role(Role.PRIVACY, Role.ADMIN)
def start() -> ResponseReturnValue:
    """Start a data request for an address: its link goes to the address, not to staff."""
    email, typed = _address("email")
    locale = request.form.get("locale", "en")
    if email is None:
        shown, _, why = typed.partition("\0")
        return _page(400, email=shown, locale=locale, problems={"email": why})
    if locale not in LOCALES:
        return _page(400, email=typed, problems={"locale": "Choose English or Russian."})
    settings = current_app.config["SETTINGS"]
    wait = throttle().attempt(None, address_hash(email, settings.address_hash_key))
    if wait is not None:
        body, _ = _page(
            429,
            email=typed,
            locale=locale,
            problems={"email": f"Too many requests for this address; try again in {wait} s."},
        )
        return body, 429, {"Retry-After": str(wait)}
    flow.start(
        db.session,
        email,
        settings,
        utcnow(),
        locale=locale,
        staff=current_staff(),
        ip=client_ip(),
    )
    db.session.commit()
    flash(
        "Request recorded. If anything is held about the address, a link is on its way to it; "
        "only its owner can open it.",
        "ok",
    )
    return redirect(url_for("console.privacy_requests.index"), code=303)


@bp.post("/stop-marketing")
@requires_role(Role.PRIVACY, Role.ADMIN)
def stop_marketing() -> ResponseReturnValue:
    """Record "stop all marketing" for an address (a suppression), audited."""
    email, typed = _address("stop_email")
    if email is None:
        shown, _, why = typed.partition("\0")
        return _page(400, stop_email=shown, problems={"stop_email": why})
    settings = current_app.config["SETTINGS"]
    flow.stop_marketing(db.session, email, settings, utcnow(), current_staff(), client_ip())
    db.session.commit()
    flash("Recorded: no marketing goes to this address any more.", "ok")
    return redirect(url_for("console.privacy_requests.index"), code=303)
