"""The page a password-reset link opens: GET shows a form and changes nothing, POST sets the
new password. The token in the link is the credential, so the page needs no session; it is
refused with a page that says why when it expired, was used, was altered or is for
something else."""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import logout_user

from invites.console.access import client_ip, public
from invites.core.db import db, utcnow
from invites.core.mail import tokens
from invites.staff import StaffError, passwords, recovery
from invites.staff.errors import ResetLinkExpired, ResetLinkInvalid, ResetLinkRefused

log = logging.getLogger(__name__)
bp = Blueprint("reset", __name__)


def _page(token: str, status: int = 200, error: str | None = None) -> ResponseReturnValue:
    page = render_template(
        "console/reset.html", token=token, min_length=passwords.MIN_LENGTH, error=error
    )
    # The address holds the token: not even our own stylesheet's request gets it as Referer.
    return page, status, {"Referrer-Policy": "no-referrer"}


def _refused(exc: ResetLinkRefused) -> ResponseReturnValue:
    title = {
        ResetLinkExpired: "This link has expired",
        ResetLinkInvalid: "This link is not valid",
    }.get(type(exc), "This link can't be used again")
    status = 400 if isinstance(exc, ResetLinkInvalid) else 410
    page = render_template("console/error.html", status=status, title=title, message=str(exc))
    return page, status, {"Referrer-Policy": "no-referrer"}


@bp.get("/<token>")
@public
def show(token: str) -> ResponseReturnValue:
    """Show the form for a new password, if the link can be used (nothing changes here)."""
    try:
        recovery.user_for_reset(db.session, tokens(), token)
    except ResetLinkRefused as exc:
        return _refused(exc)
    return _page(token)


@bp.post("/<token>")
@public
def set_password(token: str) -> ResponseReturnValue:
    """Set the new password the link's owner chose; every session of theirs ends."""
    try:
        user = recovery.user_for_reset(db.session, tokens(), token)
    except ResetLinkRefused as exc:
        return _refused(exc)
    new = request.form.get("password", "")
    if new != request.form.get("password_again", ""):
        return _page(token, 400, "The two passwords differ. Nothing was changed.")
    try:
        recovery.reset_password(
            db.session, user, new, actor=user, via="link", now=utcnow(), ip=client_ip()
        )
    except StaffError as exc:
        db.session.rollback()
        return _page(token, 400, f"Password not set: {exc}.")
    db.session.commit()
    # Whoever was signed in in this browser is out too; sign in afresh with the new password.
    logout_user()
    session.clear()
    flash("Your new password is set. Sign in with it.", "ok")
    return redirect(url_for("console.auth.login"), code=303)
