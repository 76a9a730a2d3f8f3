"""Data requests: ask at /privacy/request, open the mailed link, then see, download, correct
or erase what is held about the address at /privacy/data.

The mailed link is the proof of identity. A GET of it changes nothing (mail scanners follow
links); its page's button spends it, once, and opens the data page in that browser for an
hour (the request's id in the signed session cookie). Every POST checks its CSRF token here,
so a refused form comes back as the page with what was typed.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError

from invites.accounts.categories import CATEGORIES
from invites.core import audit
from invites.core.addresses import InvalidAddress, address_hash, normalize
from invites.core.csrf import csrf
from invites.core.db import db, utcnow
from invites.core.locale import LOCALES, pick_locale
from invites.core.mail import tokens
from invites.datarequests import corrections, erasure, flow, holdings
from invites.datarequests.models import DataRequest, RequestStatus
from invites.datarequests.throttle import throttle
from invites.privacy import versions
from invites.public.data_request_text import TEXT

log = logging.getLogger(__name__)
bp = Blueprint("data_requests", __name__)

#: Session keys: the request whose data page this browser may see, and what an erasure erased.
OPEN_KEY = "data_request"
ERASED_KEY = "data_erased"


def _private(body: str, status: int = 200, **headers: str) -> Response:
    resp = make_response(body, status)
    # One person's data and form tokens: never cached, and the link never leaks as a referrer.
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    for name, value in headers.items():
        resp.headers[name.replace("_", "-")] = value
    return resp


def _render(template: str, locale: str, status: int = 200, **context: Any) -> Response:
    body = render_template(template, t=TEXT[locale], locale=locale, locales=LOCALES, **context)
    return _private(body, status)


def _csrf_ok() -> bool:
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return False
    return True


def _pad(started: float) -> None:
    # The answer takes the same time whether or not anything is held: the work differs a
    # little (one more outbox row), so every answer waits until the same moment.
    floor = current_app.config["SETTINGS"].data_request_answer_ms / 1000
    left = floor - (time.perf_counter() - started)
    if left > 0:
        time.sleep(left)


@bp.get("/privacy/request")
def ask() -> Response:
    """The form: an email address to send the link to."""
    locale = pick_locale(request.args.get("lang"))
    return _render("privacy/request.html", locale, email="", problem=None)


@bp.post("/privacy/request")
def send() -> Response:
    """Mail the link when something is held; the same page, in the same time, either way."""
    started = time.perf_counter()
    locale = pick_locale(request.form.get("lang") or request.args.get("lang"))
    typed = request.form.get("email", "")[:400]
    if not _csrf_ok():
        return _render("privacy/request.html", locale, 400, email=typed, problem="csrf")
    try:
        email = normalize(typed.strip())
    except InvalidAddress as exc:
        why = TEXT[locale]["bad_email"].format(why=str(exc))
        return _render("privacy/request.html", locale, 400, email=typed, problem=why)
    settings = current_app.config["SETTINGS"]
    wait = throttle().attempt(request.remote_addr, address_hash(email, settings.address_hash_key))
    if wait is not None:
        resp = _render("privacy/request.html", locale, 429, email=typed, limited=wait)
        resp.headers["Retry-After"] = str(wait)
        return resp
    flow.start(db.session, email, settings, utcnow(), locale=locale, ip=request.remote_addr)
    db.session.commit()
    _pad(started)
    return _render("privacy/request.html", locale, sent=True, email="")


def _refused(exc: flow.LinkRefused, locale: str) -> Response:
    status = 400 if exc.reason == "invalid" else 410
    return _render("privacy/request_link.html", locale, status, refused=exc.reason)


@bp.get("/privacy/request/<token>")
def link_page(token: str) -> Response:
    """Say what the link opens, with the button that spends it; changes nothing."""
    locale = pick_locale(request.args.get("lang"))
    try:
        found = flow.check_link(db.session, tokens(), token, utcnow())
    except flow.LinkRefused as exc:
        return _refused(exc, locale)
    return _render("privacy/request_link.html", pick_locale(found.locale), refused=None)


@bp.post("/privacy/request/<token>")
def use_link(token: str) -> Response:
    """Spend the link (once) and open the data page in this browser."""
    locale = pick_locale(request.args.get("lang"))
    now = utcnow()
    try:
        found = flow.check_link(db.session, tokens(), token, now)
        if not _csrf_ok():
            return _render("privacy/request_link.html", found.locale, 400, refused=None, csrf=True)
        flow.use_link(db.session, found, now, request.remote_addr)
    except flow.LinkRefused as exc:
        db.session.rollback()
        return _refused(exc, locale)
    db.session.commit()
    session.pop(ERASED_KEY, None)
    session[OPEN_KEY] = found.public_id
    return redirect(url_for("data_requests.data", lang=found.locale), code=303)  # type: ignore[return-value]


def _open() -> DataRequest | None:
    public_id = session.get(OPEN_KEY)
    return flow.open_request(db.session, public_id, utcnow()) if public_id else None


def _closed(locale: str) -> Response:
    return _render("privacy/request_link.html", locale, 403, refused=None, closed=True)


def _data_page(
    found: DataRequest, status: int = 200, notice: str | None = None, **form: Any
) -> Response:
    locale = pick_locale(request.args.get("lang") or found.locale)
    settings = current_app.config["SETTINGS"]
    held = holdings.gather(db.session, found.email_hash, settings, utcnow())
    archived = {v.label for v in versions.published(db.session)}
    return _render(
        "privacy/data.html",
        locale,
        status,
        held=held,
        archived=archived,
        titles={name: c.title.get(locale, c.title["en"]) for name, c in CATEGORIES.items()},
        notice=notice,
        form={"new_email": "", "problem": None, **form},
    )


@bp.get("/privacy/data")
def data() -> Response:
    """Everything held about the address of the request this browser opened."""
    found = _open()
    if found is None:
        return _closed(pick_locale(request.args.get("lang")))
    return _data_page(found, notice=request.args.get("done"))


@bp.post("/privacy/data/export")
def export() -> Response:
    """The same as the page, as a JSON file (its format at /privacy/data/schema.json)."""
    found = _open()
    if found is None:
        return _closed(pick_locale(request.args.get("lang")))
    if not _csrf_ok():
        return _data_page(found, 400, notice="csrf")
    now = utcnow()
    held = holdings.gather(db.session, found.email_hash, current_app.config["SETTINGS"], now)
    flow.note_action(found, "exported")
    flow.record(db.session, found, "data_request.export", "exported", now, ip=request.remote_addr)
    db.session.commit()
    body = held.model_dump_json(by_alias=True, indent=2)
    resp = _private(body)
    resp.mimetype = "application/json"
    resp.headers["Content-Disposition"] = 'attachment; filename="spotcam-data.json"'
    return resp


@bp.get("/privacy/data/schema.json")
def schema() -> Response:
    """The JSON Schema of the file "Download as JSON" gives."""
    body = json.dumps(holdings.DataExport.model_json_schema(by_alias=True), indent=2)
    return Response(body, mimetype="application/schema+json")


def _back(found: DataRequest, done: str) -> Response:
    target = url_for("data_requests.data", lang=request.args.get("lang") or found.locale, done=done)
    return redirect(target, code=303)  # type: ignore[return-value]


@bp.post("/privacy/data/language")
def language() -> Response:
    """Correct the language email to this address is written in."""
    found = _open()
    if found is None:
        return _closed(pick_locale(request.args.get("lang")))
    if not _csrf_ok():
        return _data_page(found, 400, notice="csrf")
    chosen = request.form.get("locale", "")
    if chosen not in LOCALES:
        return _data_page(found, 400, notice="csrf")
    now = utcnow()
    changed = corrections.set_language(db.session, found.email_hash, chosen, now)
    found.locale = chosen
    flow.note_action(found, "language")
    flow.record(
        db.session,
        found,
        "data_request.correct",
        "language" if changed else "no_contact",
        now,
        ip=request.remote_addr,
        locale=chosen,
    )
    db.session.commit()
    return _back(found, "saved_language")


@bp.post("/privacy/data/address")
def address() -> Response:
    """Mail a confirmation link to a new address; it replaces the old one once confirmed."""
    found = _open()
    if found is None:
        return _closed(pick_locale(request.args.get("lang")))
    typed = request.form.get("new_email", "")[:400]
    if not _csrf_ok():
        return _data_page(found, 400, notice="csrf", new_email=typed)
    locale = pick_locale(request.args.get("lang") or found.locale)
    try:
        new_email = normalize(typed.strip())
    except InvalidAddress as exc:
        why = TEXT[locale]["bad_email"].format(why=str(exc))
        return _data_page(found, 400, new_email=typed, problem=why)
    [*held] = corrections.contacts_of(db.session, found.email_hash)
    if not held:
        return _data_page(found, 400, new_email=typed, problem=TEXT[locale]["no_contact"])
    now = utcnow()
    for contact in held:
        corrections.ask_address_change(db.session, contact, new_email, contact.locale, now)
    flow.note_action(found, "address")
    flow.record(
        db.session, found, "data_request.correct", "address_sent", now, ip=request.remote_addr
    )
    db.session.commit()
    return _back(found, "sent_change")


@bp.get("/privacy/data/erase")
def erase_confirm() -> Response:
    """The confirmation step before erasing; changes nothing."""
    found = _open()
    locale = pick_locale(request.args.get("lang") or (found.locale if found else None))
    if found is None:
        return _closed(locale)
    return _render("privacy/erase.html", locale, problem=None, keep=True)


@bp.post("/privacy/data/erase")
def erase() -> Response:
    """Erase everything held about the address; keep a do-not-contact entry if asked."""
    found = _open()
    locale = pick_locale(request.args.get("lang") or (found.locale if found else None))
    if found is None:
        return _closed(locale)
    keep = request.form.get("keep") == "on"
    if not _csrf_ok():
        return _render("privacy/erase.html", locale, 400, problem="csrf", keep=keep)
    if request.form.get("confirm") != "yes":
        return _render("privacy/erase.html", locale, 400, problem="tick", keep=keep)
    now = utcnow()
    erased = erasure.erase_address(db.session, found.email_hash, now, keep_do_not_contact=keep)
    found.status, found.closed_at = RequestStatus.ERASED, now
    flow.note_action(found, "erased")
    flow.record(
        db.session,
        found,
        "data_request.erase",
        "erased",
        now,
        ip=request.remote_addr,
        erased=erased.counts(),
    )
    db.session.commit()
    log.info("data request: erased on request (%s)", erased.counts())
    session.pop(OPEN_KEY, None)
    session[ERASED_KEY] = erased.counts()
    return redirect(url_for("data_requests.erased", lang=locale), code=303)  # type: ignore[return-value]


@bp.get("/privacy/data/erased")
def erased() -> Response:
    """Say exactly what the erasure in this browser erased."""
    locale = pick_locale(request.args.get("lang"))
    counts = session.get(ERASED_KEY)
    if not isinstance(counts, dict):
        return _closed(locale)
    return _render("privacy/erase.html", locale, done=counts)


@bp.get("/privacy/address/<token>")
def address_page(token: str) -> Response:
    """The page a new address's confirmation link opens; changes nothing."""
    locale = pick_locale(request.args.get("lang"))
    change = corrections.pending_change(db.session, tokens(), token, utcnow())
    return _render("privacy/address.html", locale, 200 if change else 410, valid=bool(change))


@bp.post("/privacy/address/<token>")
def address_confirm(token: str) -> Response:
    """Put the confirmed new address in place of the old one."""
    locale = pick_locale(request.args.get("lang"))
    now = utcnow()
    change = corrections.pending_change(db.session, tokens(), token, now)
    if change is None:
        return _render("privacy/address.html", locale, 410, valid=False)
    if not _csrf_ok():
        return _render("privacy/address.html", locale, 400, valid=True, problem="csrf")
    settings = current_app.config["SETTINGS"]
    old, new = corrections.confirm(db.session, change, settings, now)
    audit.record(
        db.session,
        actor=None,
        action="data_request.address_confirmed",
        target_type=flow.TARGET,
        target_id=old,
        detail={"outcome": "replaced", "new_hash": new},
        ip=request.remote_addr,
        now=now,
    )
    db.session.commit()
    return _render("privacy/address.html", locale, valid=True, done=True)


def init_app(app: Flask) -> None:
    """Register the data-request pages (they check their own CSRF tokens)."""
    csrf.exempt(bp)
    app.register_blueprint(bp)
