"""SpotCam Mail: friend invitations and email that keep addresses only for their purpose."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from flask.typing import ResponseReturnValue

from invites.core import logs, metrics
from invites.core.config import Settings, from_env

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent / "templates"


class SpotCam(Flask):
    """Flask, where a request that met a dead database connection runs once more."""

    def preprocess_request(self) -> ResponseReturnValue | None:
        """Run the before-request hooks (the console's user lookup among them) as Flask does,
        through the dead-connection retry."""
        from invites.core.dbsetup import retry_dead_connection

        return retry_dead_connection(super().preprocess_request)

    def dispatch_request(self) -> ResponseReturnValue:
        """Dispatch as Flask does, through the dead-connection retry."""
        from invites.core.dbsetup import retry_dead_connection

        return retry_dead_connection(super().dispatch_request)


def create_app(config: dict[str, Any] | Settings | None = None) -> Flask:
    """Build the Flask app from the environment, optionally overridden by `config`."""
    app = SpotCam(
        __name__, template_folder=str(TEMPLATE_ROOT / "pages"), instance_relative_config=True
    )
    settings = config if isinstance(config, Settings) else from_env()
    app.config.update(
        # The one way settings are read; below are only the keys Flask and its extensions take.
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        SECRET_KEY_FALLBACKS=settings.secret_key_fallbacks,
        # The session cookie holds the preference page's CSRF token and the console's login:
        # never sent over plain HTTP outside development (which runs on http://127.0.0.1),
        # never readable by scripts, and not sent on cross-site POSTs.
        SESSION_COOKIE_SECURE=not settings.is_dev,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        TEMPLATE_ROOT=str(TEMPLATE_ROOT),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SQLALCHEMY_DATABASE_URI=settings.database_url
        or "sqlite:///" + os.path.join(app.instance_path, "spotcam.db"),
        # No pre-ping: it costs a round trip per request. Connections are recycled before
        # servers or proxies drop them, and a request that meets a dead one runs again
        # (dbsetup.retry_dead_connection). Statement parameters stay out of error texts: they
        # hold addresses, and error texts end up in logs and in RQ's failed-job records.
        SQLALCHEMY_ENGINE_OPTIONS={"pool_recycle": 1800, "hide_parameters": True},
        OUTBOX_PATH=settings.outbox_dir or os.path.join(app.instance_path, "outbox"),
        DEV_OUTBOX=settings.is_dev and not settings.smtp_url,
    )
    if isinstance(config, dict):
        app.config.update(config)
    os.makedirs(app.instance_path, exist_ok=True)
    logs.init_app(app)
    metrics.init_app(app)  # first, so its timing hook runs before every other

    from invites import (
        accounts,
        api,
        campaigns,
        cli,
        console,
        datarequests,
        delivery,
        feedback,
        invitations,
        ops,
        privacy,
        public,
        staff,
    )
    from invites.core import csrf, dbsetup, errors, inputs

    # Shared pieces, then the product areas (their kinds of mail and periodic jobs), then the
    # surfaces by who calls them.
    dbsetup.init_app(app)
    csrf.init_app(app)
    errors.init_app(app)
    inputs.init_app(app)
    delivery.init_app(app)
    privacy.init_app(app)
    invitations.init_app(app)
    accounts.init_app(app)
    feedback.init_app(app)
    staff.init_app(app)
    campaigns.init_app(app)
    datarequests.init_app(app)
    api.init_app(app)
    public.init_app(app)
    console.init_app(app)
    ops.init_app(app)
    cli.init_app(app)
    return app
