"""Public pages reached from links in emails. GET shows; only POST changes anything."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)

from invites.core.csrf import csrf
from invites.core.db import db, utcnow
from invites.core.locale import pick_locale
from invites.core.mail import tokens
from invites.core.suppression import is_suppressed
from invites.core.tokens import TokenError, TokenExpired
from invites.invitations import lifecycle as invitations
from invites.public.text import TEXT

log = logging.getLogger(__name__)
bp = Blueprint("pages", __name__)


def _render(template: str, locale: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, t=TEXT[locale], locale=locale, **context), status


def _link_error(exc: TokenError, locale: str) -> tuple[str, int]:
    key = "expired" if isinstance(exc, TokenExpired) else "invalid"
    return _render("link_error.html", locale, 410 if key == "expired" else 400, reason=key)


def _one_click_link_error(exc: TokenError) -> Response:
    # The mail client gets plain text, but the same status for the same state as the page.
    if isinstance(exc, TokenExpired):
        return Response(
            "This removal link has expired; nothing was changed.\n", 410, mimetype="text/plain"
        )
    return Response(
        "This removal link is not valid; nothing was changed.\n", 400, mimetype="text/plain"
    )


@bp.get("/")
def index() -> tuple[str, int]:
    """Show what this service is."""
    return _render("index.html", pick_locale(None))


@bp.get("/i/<token>")
def accept_page(token: str) -> tuple[str, int]:
    """Show the invitation with a button to the app's sign-up; changes nothing."""
    settings = current_app.config["SETTINGS"]
    locale = pick_locale(None)
    try:
        public_id = tokens().load("accept", token, settings.invitation_window_days * 86400)
    except TokenError as exc:
        return _link_error(exc, locale)
    inv = invitations.find(db.session, public_id)
    if inv is None or inv.status not in invitations.OPEN:
        return _render(
            "invitation_closed.html",
            inv.locale if inv else locale,
            410,
            state=inv.status if inv else "unknown",
        )
    separator = "&" if "?" in settings.app_signup_url else "?"
    signup = settings.app_signup_url + separator + urlencode({"invitation": token})
    return _render(
        "accept.html",
        inv.locale,
        inviter_name=inv.inviter_name,
        note=inv.note,
        signup_url=signup,
        remove_url="/r/" + tokens().make("remove", inv.public_id),
    )


def _load_removal(token: str) -> tuple[invitations.Invitation | None, str]:
    settings = current_app.config["SETTINGS"]
    public_id = tokens().load("remove", token, settings.removal_link_days * 86400)
    inv = invitations.find(db.session, public_id)
    return inv, inv.locale if inv else pick_locale(None)


@bp.get("/r/<token>")
def remove_page(token: str) -> tuple[str, int]:
    """Show what removal does and a button that POSTs it; changes nothing (scanners GET links)."""
    try:
        inv, locale = _load_removal(token)
    except TokenError as exc:
        return _link_error(exc, pick_locale(None))
    done = inv is None or inv.email is None and is_suppressed(db.session, inv.email_hash or "")
    return _render("remove_confirm.html", locale, already=done)


@bp.post("/r/<token>")
def remove(token: str) -> Any:
    """Erase the address and block further invitations (page button or RFC 8058 one-click)."""
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    try:
        inv, locale = _load_removal(token)
    except TokenError as exc:
        if one_click:
            return _one_click_link_error(exc)
        return _link_error(exc, pick_locale(None))
    if not one_click and request.form.get("confirm") != "remove":
        return _render("remove_confirm.html", locale, 400, already=False, missing_confirm=True)
    changed = False
    if inv is not None:
        changed = invitations.remove(db.session, inv, utcnow())
        db.session.commit()
    log.info("removal request handled (new=%s, one_click=%s)", changed, one_click)
    if one_click:
        # RFC 8058: answer the mail client directly, never with a redirect.
        return Response(
            "Removed.\n" if changed else "Already removed.\n", status=200, mimetype="text/plain"
        )
    # Post/redirect/get: reloading the page that says "removed" must not post the form again.
    return redirect(url_for("pages.removed", token=token), 303)


@bp.get("/r/<token>/done")
def removed(token: str) -> tuple[str, int]:
    """Say the address is removed (where the removal button leads); changes nothing."""
    try:
        inv, locale = _load_removal(token)
    except TokenError as exc:
        return _link_error(exc, pick_locale(None))
    if inv is not None and inv.email is not None:
        return _render("remove_confirm.html", locale, already=False)  # not removed (yet)
    return _render("remove_done.html", locale, already=False)


@bp.get("/about-this-email")
def about_this_email() -> tuple[str, int]:
    """Tell someone without an account why SpotCam wrote to them, and what is kept (nothing)."""
    return _render("about_email.html", pick_locale(request.args.get("lang")))


def init_app(app: Flask) -> None:
    """Register the public pages."""
    # The removal link is its own credential and must accept RFC 8058 posts without cookies.
    csrf.exempt(bp)
    app.register_blueprint(bp)
