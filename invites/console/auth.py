"""Signing in and out of the console (Flask-Login keeps the staff user in the session).

Signing in is one step, or two for a user with two-factor sign-in: a right password then
only remembers, in the signed session cookie, who is half-way (their id and session token,
for PENDING_SECONDS), and the code page finishes the sign-in. Codes are counted against the
same limits as passwords, in counters of their own (throttle.py).
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user, login_user, logout_user

from invites.console.access import SIGNED_IN_AT, client_ip, current_staff, enrolment, public
from invites.console.throttle import throttle
from invites.core.db import db, utcnow
from invites.staff import StaffUser, twofactor, users

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
WRONG_CODE = "That code is not right, or it was used already. Try the next one."
#: Session key: the user half-way through signing in (password right, code to come).
PENDING = "console_pending_2fa"
#: How long the code page waits for a code after the password.
PENDING_SECONDS = 300


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
        return too_many(wait)
    now = utcnow()
    password = request.form.get("password", "")
    user = users.check_password(db.session, email, password, now=now, ip=client_ip())
    if user is not None and not user.has_two_factor:
        users.record_sign_in(db.session, user, now=now, ip=client_ip())
    db.session.commit()  # the audit event, failed or not, and a rehash
    if user is None:
        log.info("console sign-in refused")
        return render_template("console/login.html", next=target, email=email, error=REFUSED), 200
    if user.has_two_factor:
        session.clear()
        session[PENDING] = {"id": user.id, "token": user.session_token, "at": int(time.time())}
        return redirect(url_for("console.auth.code", next=target), code=303)
    return _signed_in(user, target)


@bp.route("/login/code", methods=["GET", "POST"])
@public
def code() -> ResponseReturnValue:
    """Ask for the two-factor code after a right password; on POST check it (rate-limited)."""
    target = _next_page(request.values.get("next"))
    user = _pending_user()
    if user is None:
        session.pop(PENDING, None)
        flash("Please sign in again: the sign-in waited too long for its code.", "error")
        return redirect(url_for("console.auth.login", next=target))
    if request.method != "POST":
        return render_template("console/login_code.html", next=target)
    wait = throttle().attempt(client_ip() or "", user.email, step="code")
    if wait is not None:
        log.warning("two-factor code attempts over the limit")
        return too_many(wait)
    now = utcnow()
    box = twofactor.sealer(current_app.config["SETTINGS"])
    factor = twofactor.verify(db.session, user, box, request.form.get("code", ""), now=now)
    if factor is None:
        users.record_refusal(db.session, user, "wrong_code", now=now, ip=client_ip())
        db.session.commit()
        return render_template("console/login_code.html", next=target, error=WRONG_CODE), 200
    users.record_sign_in(db.session, user, now=now, ip=client_ip(), second_factor=factor)
    db.session.commit()
    if factor == "recovery_code":
        left = twofactor.recovery_codes_left(db.session, user)
        flash(
            f"You signed in with a recovery code; {left} left. Make new ones on your account "
            "page if you are running out.",
            "error" if left < 3 else "ok",
        )
    return _signed_in(user, target)


def _pending_user() -> StaffUser | None:
    """The user whose password was right moments ago in this browser, if still valid."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    user = users.load_session_user(db.session, f"{pending.get('id')}:{pending.get('token')}")
    return user if user is not None and user.has_two_factor else None


def _signed_in(user: StaffUser, target: str) -> ResponseReturnValue:
    # A fresh cookie for the signed-in session: nothing from before the login carries over.
    flashes = session.get("_flashes")
    session.clear()
    if flashes:
        session["_flashes"] = flashes
    login_user(user)
    session[SIGNED_IN_AT] = int(time.time())
    log.info("staff user %s signed in", user.id)
    return redirect(target)


def too_many(wait: int) -> ResponseReturnValue:
    """The 429 page for attempts over a limit, with Retry-After."""
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
@enrolment
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
