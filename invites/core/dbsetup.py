"""Wire the database into the app: SQLite pragmas, and requests that survive a dead connection."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, g, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from invites.core.db import db

MIGRATIONS = str(Path(__file__).resolve().parents[2] / "migrations")
log = logging.getLogger(__name__)
T = TypeVar("T")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web process read while a worker writes; the busy timeout makes writers
    # queue for the lock instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _note_commit(_session: Session) -> None:
    if has_app_context():
        g.spotcam_commit_attempted = True


def retry_dead_connection(call: Callable[[], T]) -> T:
    """Run a request's work; if it met a dead pooled connection, run it once more.

    After a database restart or failover (or `pg_terminate_backend`) every pooled connection
    is dead, and SQLAlchemy only finds out when one is used: without this, the first request
    of every process would fail. Running the request again is safe as long as it had not
    tried to commit, since nothing it did then can have happened; once a COMMIT was sent its
    fate is unknown, so that error stands. (Pre-ping would cost every request a round trip.)
    """
    try:
        return call()
    except DBAPIError as exc:
        if not exc.connection_invalidated or g.get("spotcam_commit_attempted"):
            raise
        db.session.remove()  # SQLAlchemy has already invalidated the rest of the pool
        log.warning("database connection was dead; the request runs again on a new one")
        return call()


def migrations(app: Flask) -> None:
    """Register Flask-Migrate on the app, for what migrates (`invites db`, set-up, tests).

    Only then: importing it imports Alembic, a third of the start-up of every process
    (each worker, each `invites` command) that never migrates.
    """
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        Migrate(app, db, directory=MIGRATIONS, render_as_batch=True)


def init_app(app: Flask) -> None:
    """Register SQLAlchemy (Flask-Migrate: `migrations`)."""
    db.init_app(app)
    if not event.contains(Session, "before_commit", _note_commit):
        event.listen(Session, "before_commit", _note_commit)
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
