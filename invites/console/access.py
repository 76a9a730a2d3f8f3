"""The console's route group and who may use each route.

`bp` is the parent blueprint of every console page (mounted at /console). Its before_request
checks every console request once: a signed-in, enabled staff user whose console sign-in is
not older than CONSOLE_SESSION_HOURS, with a role the route allows. Child blueprints only say
which roles (`@requires_role`); a route that says nothing is open to every role, and only a
route marked `@public` (the sign-in pages, a reset link) needs no user.

With STAFF_REQUIRE_2FA, a user without two-factor sign-in is sent to set it up first: only
routes marked `@enrolment` (that set-up, and signing out) are open to them until it is on.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, logout_user

from invites.core import audit
from invites.core.db import db
from invites.staff import ALL_ROLES, Role, StaffUser

ROOT = Path(__file__).resolve().parents[2]
bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder=str(ROOT / "templates"),
    static_folder=str(ROOT / "templates" / "console" / "static"),
    static_url_path="/static",
)
F = TypeVar("F", bound=Callable[..., Any])
LOGIN_ENDPOINT = "console.auth.login"
ENROL_ENDPOINT = "console.account.two_factor"
#: Session key: when this browser signed in (epoch seconds), for the absolute session age.
SIGNED_IN_AT = "console_signed_in_at"


def requires_role(*roles: Role) -> Callable[[F], F]:
    """Let only staff with one of these roles use the decorated view (others get a 403)."""
    allowed = frozenset(Role(r) for r in roles)
    if not allowed:
        raise ValueError("requires_role needs at least one role")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            # The group's guard checked already; this makes the mark true wherever it is used.
            _check_role(allowed)
            return view(*args, **kwargs)

        wrapped.console_roles = allowed  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def public(view: F) -> F:
    """Mark a console view that needs no signed-in user (the sign-in page)."""
    view.console_public = True  # type: ignore[attr-defined]
    return view


def enrolment(view: F) -> F:
    """Mark a console view open to a user who must still set up two-factor sign-in."""
    view.console_enrolment = True  # type: ignore[attr-defined]
    return view


#: Roles a whole group of pages allows when its views say nothing (endpoint prefix → roles):
#: the campaign pages are marketing's and admins', not the privacy role's.
GROUP_ROLES: dict[str, frozenset[Role]] = {
    "console.campaigns.": frozenset({Role.MARKETING, Role.ADMIN}),
}


def roles_for(view: Callable[..., Any] | None, endpoint: str = "") -> frozenset[Role]:
    """The roles a console view allows: its mark, else its group's, else every role."""
    marked = getattr(view, "console_roles", None)
    if marked is not None:
        return frozenset(marked)
    for prefix, roles in GROUP_ROLES.items():
        if endpoint.startswith(prefix):
            return roles
    return ALL_ROLES


def may_open(endpoint: str, user: StaffUser | None = None) -> bool:
    """Whether the user (default: the signed-in one) may use the route with this endpoint."""
    user = user or current_staff()
    view = current_app.view_functions.get(endpoint)
    return view is not None and user.role in roles_for(view, endpoint)


def current_staff() -> StaffUser:
    """The signed-in staff user of this console request."""
    user = current_user._get_current_object()
    if not isinstance(user, StaffUser):
        raise RuntimeError("current_staff() outside a signed-in console request")
    return user


def client_ip() -> str | None:
    """The address the request came from, as recorded in the audit log."""
    return request.remote_addr


def audit_action(
    action: str,
    *,
    target_type: str | None,
    target_id: str | int | None,
    detail: dict[str, Any] | None = None,
) -> audit.AuditEvent:
    """Record an action of the signed-in staff user (it commits with the caller's change)."""
    return audit.record(
        db.session,
        actor=current_staff(),
        action=action,
        target_type=target_type,
        target_id=target_id,
        detail=detail,
        ip=client_ip(),
    )


def _check_role(allowed: frozenset[Role]) -> None:
    user = current_staff()
    if user.role not in allowed:
        names = " or ".join(sorted(r.value for r in allowed))
        abort(403, description=f"This page is for {names} staff; you are {user.role.value}.")


@bp.before_request
def guard() -> ResponseReturnValue | None:
    """Send visitors without a valid staff session to sign in; refuse roles a route forbids."""
    view = current_app.view_functions.get(request.endpoint or "")
    if request.endpoint == "console.static" or getattr(view, "console_public", False):
        return None
    max_age = current_app.config["SETTINGS"].console_session_hours * 3600
    expired = time.time() - float(session.get(SIGNED_IN_AT, 0)) > max_age
    if not current_user.is_authenticated or expired:
        if "_user_id" in session:
            # Disabled, signed out elsewhere, or too old: forget the user in this cookie too.
            logout_user()
            session.pop(SIGNED_IN_AT, None)
            flash("Your session has ended. Please sign in again.", "error")
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for(LOGIN_ENDPOINT, next=target))
    if (
        current_app.config["SETTINGS"].staff_require_2fa
        and not current_staff().has_two_factor
        and not getattr(view, "console_enrolment", False)
    ):
        flash("Set up two-factor sign-in first: this console requires it.", "error")
        return redirect(url_for(ENROL_ENDPOINT), code=303)
    _check_role(roles_for(view, request.endpoint or ""))
    return None


@bp.after_request
def private(response: Response) -> Response:
    """Keep console pages out of caches and out of other sites' frames."""
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    # A view may set its own (the campaign preview's email, framed by the console itself).
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    # A view may keep even its own address to itself (a reset link's page: no-referrer).
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
