"""The JSON API used by the SpotCam app backend, under /api/v1."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the API blueprints."""
    from .invitations import bp as invitations_bp
    from .openapi import bp as openapi_bp
    from .stats import bp as stats_bp

    for bp in (invitations_bp, stats_bp, openapi_bp):
        app.register_blueprint(bp)
