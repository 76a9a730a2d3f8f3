"""The JSON API used by the SpotCam app backend, under /api/v1."""

from __future__ import annotations

from flask import Blueprint, Flask


def init_app(app: Flask) -> None:
    """Register the API's route group: its endpoints, and authentication once for all."""
    from invites.api import (
        auth,
        contacts,
        events,
        invitations,
        messages,
        openapi,
        privacy,
        schemas,
        stats,
    )
    from invites.core.csrf import csrf

    app.before_request(schemas.check_path_and_query)
    group = Blueprint("api", __name__)
    group.before_request(auth.check_request)
    for module in (invitations, stats, contacts, messages, events, openapi, privacy):
        # API clients authenticate with a bearer key, not a cookie: CSRF can't apply.
        csrf.exempt(module.bp)
        group.register_blueprint(module.bp)
    app.register_blueprint(group)
