"""Admin pages for staff accounts: list, create with a role, change role, disable, enable,
send a password-reset link, reset two-factor sign-in."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from invites.console.access import client_ip, current_staff, requires_role
from invites.core.db import db, utcnow
from invites.staff import Role, StaffError, StaffUser, recovery, twofactor, users
from invites.staff.errors import UnknownTimeZone

log = logging.getLogger(__name__)
bp = Blueprint("staff_users", __name__)


def _page(
    status: int = 200, form: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> tuple[str, int]:
    listing = users.all_users(db.session)
    return render_template(
        "console/staff_users.html",
        users=listing,
        roles=list(Role),
        form=form or {},
        errors=errors or {},
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
        return _page(400, kept)
    if password != again:
        flash("The two passwords differ.", "error")
        return _page(400, kept)
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
    except UnknownTimeZone as exc:
        db.session.rollback()
        flash("Not created: see the time zone below.", "error")
        return _page(400, kept, {"time_zone": f"{exc}."})
    except StaffError as exc:
        db.session.rollback()
        flash(f"Not created: {exc}.", "error")
        return _page(400, kept)
    db.session.commit()
    flash(f"Created {user.email} ({user.role.value}).", "ok")
    return _back()


def _by() -> dict[str, Any]:
    """Who makes a change, when and from where: the arguments every staff change takes."""
    return {"actor": current_staff(), "now": utcnow(), "ip": client_ip()}


def _apply(
    user_id: int,
    change: Callable[[StaffUser], object],
    done: Callable[[StaffUser], str],
    refused: str,
) -> ResponseReturnValue:
    """Make an admin's change to a staff user and its audit event, and say how it went.

    `change` returns whether it changed anything (nothing to commit or say otherwise); a
    StaffError it raises is shown after `refused`, and nothing of it is kept.
    """
    user = _target(user_id)
    try:
        changed = change(user)
    except StaffError as exc:
        db.session.rollback()
        flash(f"{refused}: {exc}.", "error")
        return _back()
    if changed:
        db.session.commit()
        flash(done(user), "ok")
    else:
        db.session.rollback()
    return _back()


@bp.post("/<int:user_id>/role")
@requires_role(Role.ADMIN)
def change_role(user_id: int) -> ResponseReturnValue:
    """Give a staff user another role (the last enabled admin keeps theirs)."""
    role = request.form.get("role", "")
    if role not in {r.value for r in Role}:
        flash("Choose a role.", "error")
        return _back()
    return _apply(
        user_id,
        lambda user: users.set_role(db.session, user, Role(role), **_by()),
        lambda user: f"{user.email} is now {user.role.value}.",
        "Role not changed",
    )


@bp.post("/<int:user_id>/disable")
@requires_role(Role.ADMIN)
def disable(user_id: int) -> ResponseReturnValue:
    """Disable a staff user: they are signed out at their next request and can't sign in."""
    return _apply(
        user_id,
        lambda user: users.disable(db.session, user, **_by()),
        lambda user: f"Disabled {user.email}.",
        "Not disabled",
    )


@bp.post("/<int:user_id>/enable")
@requires_role(Role.ADMIN)
def enable(user_id: int) -> ResponseReturnValue:
    """Let a disabled staff user sign in again."""
    return _apply(
        user_id,
        lambda user: users.enable(db.session, user, **_by()),
        lambda user: f"Enabled {user.email}.",
        "Not enabled",
    )


@bp.post("/<int:user_id>/reset-link")
@requires_role(Role.ADMIN)
def send_reset_link(user_id: int) -> ResponseReturnValue:
    """Email a staff user a one-hour, single-use link to set a new password."""
    # The link itself is never shown here: only its owner's mailbox gets it.
    return _apply(
        user_id,
        lambda user: recovery.send_reset_link(db.session, user, **_by()),
        lambda user: f"A password-reset link is on its way to {user.email}; it works for one hour.",
        "No link sent",
    )


@bp.post("/<int:user_id>/two-factor/reset")
@requires_role(Role.ADMIN)
def reset_two_factor(user_id: int) -> ResponseReturnValue:
    """Turn off a staff user's two-factor sign-in (a lost phone); their sessions end."""
    if user_id == current_staff().id:
        flash("Turn your own two-factor sign-in off on your account page.", "error")
        return _back()
    return _apply(
        user_id,
        lambda user: twofactor.remove(db.session, user, **_by()),
        lambda user: f"Two-factor sign-in of {user.email} is off; they sign in with the password.",
        "Not reset",
    )
