"""The signed-in staff member's own account: change the password, set up two-factor sign-in,
replace recovery codes, turn two-factor off.

Every change asks for something only the person has (the current password, or a code from
the new device), and password checks here count against the sign-in limits: a session left
open on a shared computer doesn't let someone guess the password through this page.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_user

from invites.console.access import client_ip, current_staff, enrolment
from invites.console.auth import too_many
from invites.console.throttle import throttle
from invites.core.db import db, utcnow
from invites.core.sealed import Sealer
from invites.staff import StaffError, passwords, recovery, twofactor

log = logging.getLogger(__name__)
bp = Blueprint("account", __name__)


def _box() -> Sealer:
    return twofactor.sealer(current_app.config["SETTINGS"])


def _required() -> bool:
    return bool(current_app.config["SETTINGS"].staff_require_2fa)


def _page(status: int = 200, error: str | None = None) -> tuple[str, int]:
    user = current_staff()
    left = twofactor.recovery_codes_left(db.session, user) if user.has_two_factor else 0
    return render_template(
        "console/account.html",
        min_length=passwords.MIN_LENGTH,
        codes_left=left,
        required=_required(),
        error=error,
    ), status


def _back() -> ResponseReturnValue:
    return redirect(url_for("console.account.index"), code=303)


def _over_limit() -> ResponseReturnValue | None:
    """Count a check of the current password against the sign-in limits."""
    wait = throttle().attempt(client_ip() or "", current_staff().email)
    return too_many(wait) if wait is not None else None


@bp.get("")
def index() -> tuple[str, int]:
    """Show the password form and the state of two-factor sign-in."""
    return _page()


@bp.post("/password")
def change_password() -> ResponseReturnValue:
    """Change your own password (current one required); your other sessions end."""
    user = current_staff()
    new = request.form.get("new_password", "")
    if new != request.form.get("new_password_again", ""):
        return _page(400, "The two new passwords differ. Nothing was changed.")
    refused = _over_limit()
    if refused is not None:
        return refused
    try:
        recovery.change_password(
            db.session,
            user,
            request.form.get("current_password", ""),
            new,
            now=utcnow(),
            ip=client_ip(),
        )
    except StaffError as exc:
        db.session.commit()  # a wrong current password is recorded
        return _page(400, f"Password not changed: {exc}.")
    db.session.commit()
    # The new session token ended every session; this browser signs in again with it.
    login_user(user)
    flash("Your password is changed. Your other sessions have ended.", "ok")
    log.info("staff user %s changed their password", user.id)
    return _back()


@bp.get("/two-factor")
@enrolment
def two_factor() -> ResponseReturnValue:
    """Show the set-up of two-factor sign-in: a QR code and the secret, and a code form."""
    user = current_staff()
    if user.has_two_factor:
        return _back()
    secret = twofactor.pending_secret(user, _box())
    svg = twofactor.qr_svg(twofactor.provisioning_uri(user, secret)) if secret else None
    return render_template(
        "console/two_factor.html", secret=secret, qr=svg, required=_required()
    ), 200


@bp.post("/two-factor/start")
@enrolment
def start_two_factor() -> ResponseReturnValue:
    """Make a new secret for this user's authenticator app (not in use until confirmed)."""
    try:
        twofactor.begin(db.session, current_staff(), _box())
    except StaffError as exc:
        flash(f"{exc}.", "error")
        return _back()
    db.session.commit()
    return redirect(url_for("console.account.two_factor"), code=303)


@bp.post("/two-factor/confirm")
@enrolment
def confirm_two_factor() -> ResponseReturnValue:
    """Turn two-factor on with a first code from the app; show the recovery codes once."""
    user = current_staff()
    wait = throttle().attempt(client_ip() or "", user.email, step="code")
    if wait is not None:
        return too_many(wait)
    try:
        codes = twofactor.confirm(
            db.session, user, _box(), request.form.get("code", ""), now=utcnow(), ip=client_ip()
        )
    except StaffError as exc:
        db.session.rollback()
        flash(f"Two-factor is not on yet: {exc}.", "error")
        return redirect(url_for("console.account.two_factor"), code=303)
    db.session.commit()
    return render_template("console/recovery_codes.html", codes=codes, first=True), 200


@bp.post("/two-factor/recovery-codes")
def replace_recovery_codes() -> ResponseReturnValue:
    """Replace your recovery codes (current password required); show the new ones once."""
    user = current_staff()
    refused = _over_limit()
    if refused is not None:
        return refused
    if not passwords.verify(user.password_hash, request.form.get("current_password", "")):
        return _page(400, "Recovery codes not replaced: the current password is not right.")
    try:
        codes = twofactor.replace_recovery_codes(db.session, user, now=utcnow(), ip=client_ip())
    except StaffError as exc:
        return _page(400, f"Recovery codes not replaced: {exc}.")
    db.session.commit()
    return render_template("console/recovery_codes.html", codes=codes, first=False), 200


@bp.post("/two-factor/disable")
def disable_two_factor() -> ResponseReturnValue:
    """Turn your two-factor sign-in off (current password required), unless it is required."""
    user = current_staff()
    if _required():
        return _page(400, "Two-factor sign-in is required here; an admin can reset it for you.")
    refused = _over_limit()
    if refused is not None:
        return refused
    if not passwords.verify(user.password_hash, request.form.get("current_password", "")):
        return _page(400, "Two-factor is still on: the current password is not right.")
    twofactor.remove(db.session, user, actor=user, now=utcnow(), ip=client_ip())
    db.session.commit()
    flash("Two-factor sign-in is off. Your password alone signs you in.", "ok")
    return _back()
