"""The JSON API used by the SpotCam app backend, under /api/v1."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the API blueprints, and the check of path ids and query strings they share."""
    from invites.api import contacts, events, invitations, messages, openapi, schemas, stats
    from invites.core.csrf import csrf

    app.before_request(schemas.check_path_and_query)

    for module in (invitations, stats, contacts, messages, events, openapi):
        # API clients authenticate with a bearer key, not a cookie: CSRF can't apply.
        csrf.exempt(module.bp)
        app.register_blueprint(module.bp)
