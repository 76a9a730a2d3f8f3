"""Health checks for load balancers and orchestrators: is the process up, can it work."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify
from sqlalchemy import text

from invites.core import queue
from invites.core.db import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Say the process is up (no database or Redis call: used as the benchmark baseline)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Check the database and Redis."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        queue.connection().ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503


def init_app(app: Flask) -> None:
    """Register /healthz and /readyz."""
    app.register_blueprint(bp)
