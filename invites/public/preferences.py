"""The preference centre and RFC 8058 one-click unsubscribe, both at /p/<token>.

GET shows; only POST changes anything. The token is the credential (it names a contact and a
category), so the blueprint is exempt from the global CSRF check: one-click posts come from mail
clients with no cookie, and the page form checks its own CSRF token instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, make_response, render_template, request
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError

from invites.accounts import contacts
from invites.accounts.categories import CATEGORIES, MARKETING
from invites.accounts.models import Contact
from invites.campaigns import attribution
from invites.core.csrf import csrf
from invites.core.db import db, utcnow
from invites.core.locale import pick_locale
from invites.core.mail import tokens
from invites.core.suppression import Reason, is_suppressed, suppress
from invites.core.tokens import TokenError, TokenExpired, TokenInvalid
from invites.privacy import versions
from invites.public import preference_policy
from invites.public import text as page_text
from invites.public.preference_text import TEXT

log = logging.getLogger(__name__)
bp = Blueprint("preferences", __name__)

#: Set by "unsubscribe from all"; contacts.apply lifts it when a person grants a category again.
UNSUBSCRIBED_ALL = Reason.UNSUBSCRIBED_ALL


@dataclass(frozen=True)
class Link:
    """What a preference token names: a contact (None once deleted), a category, and the
    campaign whose email carried it (for counting its unsubscribes), if any."""

    contact: Contact | None
    category: str
    locale: str
    campaign_id: int | None = None


def _load(token: str) -> Link:
    max_age = current_app.config["SETTINGS"].preference_link_days * 86400
    parts = tokens().load("preferences", token, max_age).split(":")
    if len(parts) not in (2, 3) or not parts[0] or parts[1] not in CATEGORIES:
        raise TokenInvalid("this link is not valid")
    campaign_id = int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else None
    contact = contacts.by_public_id(db.session, parts[0])
    preferred = contact.locale if contact is not None else None
    return Link(contact, parts[1], pick_locale(preferred), campaign_id)


def _attribute(link: Link, changed: list[str]) -> None:
    # An unsubscribe from a campaign's email counts against that campaign, in aggregate.
    if link.campaign_id is not None and link.category in changed:
        attribution.attribute(db.session, link.campaign_id, "unsubscribed")


def _private(body: str, status: int) -> Response:
    resp = make_response(body, status)
    # The page shows one person's choices and a form token: never cache it, never leak the URL.
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _plain(body: str, status: int) -> Response:
    # RFC 8058: the mail client gets a direct answer, never a redirect.
    resp = Response(body + "\n", status=status, mimetype="text/plain")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _link_error(exc: TokenError) -> Response:
    locale = pick_locale(None)
    reason = "expired" if isinstance(exc, TokenExpired) else "invalid"
    body = render_template(
        "link_error.html", t=page_text.TEXT[locale], locale=locale, reason=reason
    )
    return _private(body, 410 if reason == "expired" else 400)


def _gone(link: Link) -> Response:
    body = render_template("preferences.html", t=TEXT[link.locale], locale=link.locale, gone=True)
    return _private(body, 410)


def _page(link: Link, status: int = 200, notice: str | None = None) -> Response:
    contact = link.contact
    assert contact is not None
    settings = current_app.config["SETTINGS"]
    state = contacts.current(db.session, contact, settings)
    # After "unsubscribe from all" no marketing leaves whatever a preference says; show that.
    blocked = is_suppressed(db.session, contact.email_hash, [UNSUBSCRIBED_ALL])
    today = versions.today()
    chosen = preference_policy.choices(db.session, contact, today)
    rows = [
        {
            "name": name,
            "title": cat.title.get(link.locale, cat.title["en"]),
            "description": cat.description.get(link.locale, cat.description["en"]),
            "on": state[name] and not (blocked and cat.can_opt_out),
            "fixed": not cat.can_opt_out,
            "focus": name == link.category,
            # When and under which policy version it was chosen; why a consent stopped.
            "choice": chosen.get(name),
        }
        for name, cat in CATEGORIES.items()
    ]
    body = render_template(
        "preferences.html",
        t=TEXT[link.locale],
        locale=link.locale,
        name=contact.name,
        rows=rows,
        notice=notice,
        blocked=blocked,
        policy=versions.in_force(db.session, today),
    )
    return _private(body, status)


def _open(token: str) -> Link | Response:
    """The link's contact for a page, or the page to show instead (bad link, deleted contact)."""
    try:
        link = _load(token)
    except TokenError as exc:
        return _link_error(exc)
    return _gone(link) if link.contact is None else link


@bp.get("/p/<token>")
def show(token: str) -> Response:
    """Show the contact's choices per category; changes nothing (scanners GET and HEAD links)."""
    link = _open(token)
    return link if isinstance(link, Response) else _page(link)


@bp.post("/p/<token>")
def change(token: str) -> Response:
    """Save the page form, unsubscribe from all, or take an RFC 8058 one-click unsubscribe."""
    if request.form.get("List-Unsubscribe") == "One-Click":
        return _one_click(token)
    link = _open(token)
    if isinstance(link, Response):
        return link
    assert link.contact is not None
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return _page(link, 400, notice="csrf_expired")
    action = request.form.get("action", "save")
    if action not in ("save", "unsubscribe_all"):
        return _page(link, 400, notice="csrf_expired")
    notice = _save(link, action)
    db.session.commit()
    log.info("preference page: %s", action)
    return _page(link, notice=notice)


def _save(link: Link, action: str) -> str:
    contact = link.contact
    assert contact is not None
    settings = current_app.config["SETTINGS"]
    now = utcnow()
    proof: dict[str, Any] = {"wording_version": contacts.PAGE_WORDING, "ip": request.remote_addr}
    if action == "unsubscribe_all":
        changed = contacts.withdraw_marketing(
            db.session, contact, "preference_page", settings, now, **proof
        )
        suppress(db.session, contact.email_hash, UNSUBSCRIBED_ALL, now)
        _attribute(link, changed)
        return "unsubscribed_all"
    chosen = set(request.form.getlist("category"))
    # A ticked category is an explicit grant: apply() also lifts an earlier "unsubscribe all".
    changed = contacts.apply(
        db.session,
        contact,
        [contacts.Change(name, name in chosen, "preference_page", **proof) for name in MARKETING],
        settings,
        now,
    )
    if link.category not in chosen:
        _attribute(link, changed)
    return "saved"


def _one_click(token: str) -> Response:
    # A mail client POSTs this with no cookie or CSRF token; the signed token is the credential.
    try:
        link = _load(token)
    except TokenExpired:
        return _plain("This unsubscribe link has expired; nothing was changed.", 410)
    except TokenError:
        return _plain("This unsubscribe link is not valid; nothing was changed.", 400)
    category = CATEGORIES[link.category]
    if not category.can_opt_out:
        return _plain(
            "Service email (account and security notices) can't be unsubscribed from; "
            "it stops when the account is deleted.",
            400,
        )
    if link.contact is None:
        return _plain("Nothing is held for this address any more; no email will be sent.", 200)
    settings = current_app.config["SETTINGS"]
    change = contacts.Change(link.category, False, "one_click", ip=request.remote_addr)
    changed = contacts.apply(db.session, link.contact, [change], settings, utcnow())
    _attribute(link, changed)
    db.session.commit()
    log.info("one-click unsubscribe from %s (new=%s)", link.category, bool(changed))
    title = category.title["en"]
    if changed:
        return _plain(f"Unsubscribed from {title}.", 200)
    return _plain(f"Already unsubscribed from {title}.", 200)


def init_app(app: Flask) -> None:
    """Register the preference centre."""
    csrf.exempt(bp)
    app.register_blueprint(bp)
