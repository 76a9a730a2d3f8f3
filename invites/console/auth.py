"""Signing in and out of the console (Flask-Login keeps the staff user in the session)."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user, login_user, logout_user

from invites.console.access import SIGNED_IN_AT, client_ip, current_staff, public
from invites.console.throttle import throttle
from invites.core.db import db, utcnow
from invites.staff import StaffUser, users

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)


class ConsoleLoginManager(LoginManager):
    """Flask-Login, attached to the app without its remember-me hook on every response."""

    def init_app(self, app: Flask, add_context_processor: bool = False) -> None:
        """Attach to the app (current_user, login_user, logout_user work), nothing more."""
        # Flask-Login's own init_app also adds an after_request to every response of the
        # app, to refresh a remember-me cookie the console never sets; it opens the session
        # of every API request (13 µs measured, and a Vary: Cookie on each answer). The
        # console's templates get the user from the console's own context processor.
        app.login_manager = self  # type: ignore[attr-defined]


login_manager = ConsoleLoginManager()
#: One answer for an unknown email, a wrong password and a disabled account.
REFUSED = "That email and password don't match an active staff account."


@login_manager.user_loader
def load_user(session_id: str) -> StaffUser | None:
    """Load the session's staff user; a disabled user or a replaced session token gets None."""
    return users.load_session_user(db.session, session_id)


def _next_page(raw: str | None) -> str:
    # Only a path inside the console: an open redirect would lend our login to phishing.
    parts = urlsplit(raw or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/console/"):
        return url_for("console.home.index")
    return parts.path + (f"?{parts.query}" if parts.query else "")


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    """Show the sign-in form; on POST check the email and password (rate-limited)."""
    target = _next_page(request.values.get("next"))
    if request.method != "POST":  # GET or HEAD: show, never check or count anything
        if current_user.is_authenticated and SIGNED_IN_AT in session:
            return redirect(target)
        return render_template("console/login.html", next=target)
    email = request.form.get("email", "")
    wait = throttle().attempt(client_ip() or "", email)
    if wait is not None:
        log.warning("console sign-in attempts over the limit")
        return _too_many(wait)
    user = users.authenticate(
        db.session, email, request.form.get("password", ""), now=utcnow(), ip=client_ip()
    )
    db.session.commit()  # the audit event, failed or not, and a rehash
    if user is None:
        log.info("console sign-in refused")
        return render_template("console/login.html", next=target, email=email, error=REFUSED), 200
    # A fresh cookie for the signed-in session: nothing from before the login carries over.
    session.clear()
    login_user(user)
    session[SIGNED_IN_AT] = int(time.time())
    log.info("staff user %s signed in", user.id)
    return redirect(target)


def _too_many(wait: int) -> ResponseReturnValue:
    minutes = max(1, round(wait / 60))
    message = (
        f"Too many sign-in attempts. Wait about {minutes} minute{'s' if minutes > 1 else ''}, "
        "then try again."
    )
    page = render_template(
        "console/error.html", status=429, title="Too many attempts", message=message
    )
    return page, 429, {"Retry-After": str(wait)}


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out: end this staff user's sessions on every device."""
    user = current_staff()
    users.sign_out(db.session, user, now=utcnow(), ip=client_ip())
    db.session.commit()
    logout_user()
    session.clear()
    flash("You have signed out.", "ok")
    log.info("staff user %s signed out", user.id)
    return redirect(url_for("console.auth.login"))


def init_app(app: Flask) -> None:
    """Give the app Flask-Login, with the console's user loader."""
    login_manager.init_app(app)
