"""Admin pages for staff accounts: list, create with a role, change role, disable, enable,
send a password-reset link, reset two-factor sign-in."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from invites.console.access import client_ip, current_staff, requires_role
from invites.core.db import db, utcnow
from invites.staff import Role, StaffError, StaffUser, recovery, twofactor, users

log = logging.getLogger(__name__)
bp = Blueprint("staff_users", __name__)


def _page(status: int = 200, **form: str) -> tuple[str, int]:
    listing = users.all_users(db.session)
    return render_template(
        "console/staff_users.html", users=listing, roles=list(Role), form=form
    ), status


def _back() -> ResponseReturnValue:
    return redirect(url_for("console.staff_users.index"), code=303)


def _target(user_id: int) -> StaffUser:
    user = users.get(db.session, user_id)
    if user is None:
        abort(404, description="There is no staff user with this id.")
    return user


@bp.get("")
@requires_role(Role.ADMIN)
def index() -> tuple[str, int]:
    """List staff users with their role and state, and the form to add one."""
    return _page()


@bp.post("")
@requires_role(Role.ADMIN)
def create() -> ResponseReturnValue:
    """Create a staff user with a role and a first password."""
    email = request.form.get("email", "")
    role = request.form.get("role", "")
    zone = request.form.get("time_zone", "").strip()
    password = request.form.get("password", "")
    again = request.form.get("password_again", "")
    kept = {"email": email, "role": role, "time_zone": zone}
    if role not in {r.value for r in Role}:
        flash("Choose a role.", "error")
        return _page(400, **kept)
    if password != again:
        flash("The two passwords differ.", "error")
        return _page(400, **kept)
    try:
        user = users.create_user(
            db.session,
            email,
            password,
            Role(role),
            now=utcnow(),
            time_zone=zone or None,
            actor=current_staff(),
            ip=client_ip(),
        )
    except StaffError as exc:
        db.session.rollback()
        flash(f"Not created: {exc}.", "error")
        return _page(400, **kept)
    db.session.commit()
    flash(f"Created {user.email} ({user.role.value}).", "ok")
    return _back()


@bp.post("/<int:user_id>/role")
@requires_role(Role.ADMIN)
def change_role(user_id: int) -> ResponseReturnValue:
    """Give a staff user another role (the last enabled admin keeps theirs)."""
    user = _target(user_id)
    role = request.form.get("role", "")
    if role not in {r.value for r in Role}:
        flash("Choose a role.", "error")
        return _back()
    try:
        changed = users.set_role(
            db.session, user, Role(role), actor=current_staff(), now=utcnow(), ip=client_ip()
        )
    except StaffError as exc:
        db.session.rollback()
        flash(f"Role not changed: {exc}.", "error")
        return _back()
    db.session.commit()
    if changed:
        flash(f"{user.email} is now {user.role.value}.", "ok")
    return _back()


@bp.post("/<int:user_id>/disable")
@requires_role(Role.ADMIN)
def disable(user_id: int) -> ResponseReturnValue:
    """Disable a staff user: they are signed out at their next request and can't sign in."""
    user = _target(user_id)
    try:
        changed = users.disable(
            db.session, user, actor=current_staff(), now=utcnow(), ip=client_ip()
        )
    except StaffError as exc:
        db.session.rollback()
        flash(f"Not disabled: {exc}.", "error")
        return _back()
    db.session.commit()
    if changed:
        flash(f"Disabled {user.email}.", "ok")
    return _back()


@bp.post("/<int:user_id>/enable")
@requires_role(Role.ADMIN)
def enable(user_id: int) -> ResponseReturnValue:
    """Let a disabled staff user sign in again."""
    user = _target(user_id)
    if users.enable(db.session, user, actor=current_staff(), now=utcnow(), ip=client_ip()):
        db.session.commit()
        flash(f"Enabled {user.email}.", "ok")
    return _back()


@bp.post("/<int:user_id>/reset-link")
@requires_role(Role.ADMIN)
def send_reset_link(user_id: int) -> ResponseReturnValue:
    """Email a staff user a one-hour, single-use link to set a new password."""
    user = _target(user_id)
    try:
        recovery.send_reset_link(
            db.session, user, actor=current_staff(), now=utcnow(), ip=client_ip()
        )
    except StaffError as exc:
        db.session.rollback()
        flash(f"No link sent: {exc}.", "error")
        return _back()
    db.session.commit()
    # The link itself is never shown here: only its owner's mailbox gets it.
    flash(f"A password-reset link is on its way to {user.email}; it works for one hour.", "ok")
    return _back()


@bp.post("/<int:user_id>/two-factor/reset")
@requires_role(Role.ADMIN)
def reset_two_factor(user_id: int) -> ResponseReturnValue:
    """Turn off a staff user's two-factor sign-in (a lost phone); their sessions end."""
    user = _target(user_id)
    if user.id == current_staff().id:
        flash("Turn your own two-factor sign-in off on your account page.", "error")
        return _back()
    if twofactor.remove(db.session, user, actor=current_staff(), now=utcnow(), ip=client_ip()):
        db.session.commit()
        flash(f"Two-factor sign-in of {user.email} is off; they sign in with the password.", "ok")
    return _back()
