"""Operator surfaces: health checks, /metrics, and the development outbox browser."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the health checks, /metrics, and the outbox browser when mail goes to the outbox."""
    from invites.ops import health, metrics, outbox

    health.init_app(app)
    metrics.init_app(app)
    if app.config["DEV_OUTBOX"]:
        outbox.init_app(app)
