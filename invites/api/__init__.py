"""The JSON API used by the SpotCam app backend, under /api/v1."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the API blueprints."""
    from ..csrf import csrf
    from . import contacts, events, invitations, messages, openapi, stats

    for module in (invitations, stats, contacts, messages, events, openapi):
        # API clients authenticate with a bearer key, not a cookie: CSRF can't apply.
        csrf.exempt(module.bp)
        app.register_blueprint(module.bp)
