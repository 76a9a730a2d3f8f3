"""SpotCam Mail: friend invitations and email that keep addresses only for their purpose."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask

from .config import Settings, from_env

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent / "templates"


def create_app(config: dict[str, Any] | Settings | None = None) -> Flask:
    """Build the Flask app from the environment, optionally overridden by `config`."""
    app = Flask(
        __name__, template_folder=str(TEMPLATE_ROOT / "pages"), instance_relative_config=True
    )
    settings = config if isinstance(config, Settings) else from_env()
    app.config.update(settings.as_flask_config())
    app.config.update(
        SETTINGS=settings,
        TEMPLATE_ROOT=str(TEMPLATE_ROOT),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SQLALCHEMY_DATABASE_URI=settings.database_url
        or "sqlite:///" + os.path.join(app.instance_path, "spotcam.db"),
        # No pre-ping: it costs a round trip per request. Connections are recycled before
        # servers or proxies drop them; a connection broken anyway fails one request, which
        # the caller retries (with its Idempotency-Key).
        SQLALCHEMY_ENGINE_OPTIONS={"pool_recycle": 1800},
        OUTBOX_PATH=settings.outbox_dir or os.path.join(app.instance_path, "outbox"),
        DEV_OUTBOX=settings.is_dev and not settings.smtp_url,
    )
    if isinstance(config, dict):
        app.config.update(config)
    os.makedirs(app.instance_path, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Alembic announces every autogenerate plugin at INFO on each start; keep the log readable.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    from . import api, cli, csrf, dbsetup, errors, inputs, pages, preferences, queue

    dbsetup.init_app(app)
    queue.init_app(app)
    csrf.init_app(app)
    errors.init_app(app)
    inputs.init_app(app)
    api.init_app(app)
    pages.init_app(app)
    preferences.init_app(app)
    cli.init_app(app)
    if app.config["DEV_OUTBOX"]:
        from . import dev

        dev.init_app(app)
    return app
