"""The JSON API used by the SpotCam app backend, under /api/v1."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the API blueprints."""
    from . import invitations, openapi, stats

    app.register_blueprint(invitations.bp)
    app.register_blueprint(stats.bp)
    app.register_blueprint(openapi.bp)
