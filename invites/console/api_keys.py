"""Admin pages for API keys: list, create (the secret is shown once), revoke."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from invites.console.access import audit_action, requires_role
from invites.core import apikeys
from invites.core.db import db, utcnow
from invites.staff import Role

bp = Blueprint("api_keys", __name__)
TARGET = "api_key"


def _page(status: int = 200, **form: object) -> tuple[str, int]:
    keys = apikeys.all_keys(db.session)
    return render_template(
        "console/api_keys.html", keys=keys, scopes=apikeys.SCOPES, form=form
    ), status


@bp.get("")
@requires_role(Role.ADMIN)
def index() -> tuple[str, int]:
    """List API keys (prefix, name, scopes, state) and the form to create one."""
    return _page()


@bp.post("")
@requires_role(Role.ADMIN)
def create() -> tuple[str, int]:
    """Create a key and show its secret on this one page (it is never stored or shown again)."""
    name = request.form.get("name", "")
    scopes = request.form.getlist("scope")
    try:
        row, secret = apikeys.create(db.session, name, scopes, utcnow())
    except ValueError as exc:
        db.session.rollback()
        flash(f"Not created: {exc}.", "error")
        return _page(400, name=name, scopes=scopes)
    audit_action(
        "api_key.created",
        target_type=TARGET,
        target_id=row.prefix,
        detail={"name": row.name, "scopes": row.scopes},
    )
    db.session.commit()
    # Rendered, not redirected: the secret must not pass through the session cookie.
    return render_template("console/api_key_created.html", key=row, secret=secret), 200


@bp.post("/<prefix>/revoke")
@requires_role(Role.ADMIN)
def revoke(prefix: str) -> ResponseReturnValue:
    """Revoke a key: the API refuses it everywhere within API_KEY_CACHE_SECONDS."""
    row = apikeys.revoke(db.session, prefix, utcnow())
    if row is None:
        abort(404, description="There is no API key with this prefix.")
    if db.session.is_modified(row):
        audit_action(
            "api_key.revoked", target_type=TARGET, target_id=row.prefix, detail={"name": row.name}
        )
        db.session.commit()
        wait = current_app.config["SETTINGS"].api_key_cache_seconds
        flash(f"Revoked {row.prefix} ({row.name}); it stops working within {wait} s.", "ok")
    return redirect(url_for("console.api_keys.index"), code=303)
