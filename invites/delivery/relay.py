"""The outbox relay: moves committed wake-ups from the database into RQ, in batches.

A web request that writes an outbox row also writes its wake-up (`outbox_wakeups`) in the same
transaction and answers without talking to Redis. The relay, a thread of `invites scheduler`,
deletes up to a batch of wake-ups and enqueues their jobs in one Redis pipeline, committing
the delete only once Redis took the jobs: a wake-up is never lost, and at worst (a crash
between the two) enqueued twice, which the job's claim makes harmless.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import redis
from flask import Flask
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from invites.core import queue
from invites.core.db import AnySession, db, run
from invites.delivery import kinds as delivery
from invites.delivery.models import OutboundMessage, OutboxWakeup

log = logging.getLogger(__name__)

#: Wake-ups per round: one DELETE and one Redis pipeline each.
BATCH = 500
#: Longest pause between attempts while the database or Redis is unreachable.
MAX_BACKOFF_SECONDS = 5.0

_WAKEUPS = OutboxWakeup.__table__


def wake(session: AnySession, message_id: int) -> None:
    """Have this outbox row's job enqueued once the caller's transaction commits."""
    run(session, ("wake",), lambda _dialect: insert(_WAKEUPS), {"message_id": message_id})


def _take(limit: int) -> Any:
    ids = _WAKEUPS.c.message_id
    # SKIP LOCKED (PostgreSQL; SQLite has one writer anyway): relays on several machines take
    # disjoint batches instead of waiting on each other.
    batch = select(ids).order_by(ids).limit(limit).with_for_update(skip_locked=True)
    return delete(_WAKEUPS).where(ids.in_(batch.scalar_subquery())).returning(ids)


def relay_once(limit: int = BATCH) -> int:
    """Enqueue the jobs of up to `limit` wake-ups and delete them; return how many moved.

    Raises RedisError or SQLAlchemyError; the wake-ups then stay for the next round.
    """
    # A connection of its own, not the request-scoped session: this runs beside other work.
    with db.engine.connect() as conn:
        ids = [int(i) for i in conn.execute(_take(limit)).scalars()]
        if ids:
            for name, batch in _by_queue(conn, ids).items():
                queue.enqueue_jobs(batch, name)
        conn.commit()
    return len(ids)


def _by_queue(conn: Any, ids: list[int]) -> dict[str, list[int]]:
    """Group message ids by the queue their kind names (a vanished row: the mail queue)."""
    kinds = dict(
        conn.execute(
            select(OutboundMessage.id, OutboundMessage.kind).where(OutboundMessage.id.in_(ids))
        ).all()
    )
    grouped: dict[str, list[int]] = {}
    for message_id in ids:
        name = delivery.queue_of(kinds.get(message_id, ""), queue.MAIL_QUEUE)
        grouped.setdefault(name, []).append(message_id)
    return grouped


def drain() -> int:
    """Relay until no wake-up is left; return how many moved (for burst workers and tests)."""
    moved = 0
    while (n := relay_once()) > 0:
        moved += n
    return moved


def relay_forever(app: Flask, stop: threading.Event) -> None:
    """Relay until `stop` is set: a full batch goes again at once, else wait the interval."""
    interval = app.config["SETTINGS"].relay_interval_ms / 1000
    backoff = 0.0
    with app.app_context():
        while not stop.is_set():
            try:
                moved = relay_once()
            except (redis.RedisError, SQLAlchemyError) as exc:
                if not backoff:
                    log.warning("outbox relay paused, wake-ups kept, retrying: %s", exc)
                backoff = min(MAX_BACKOFF_SECONDS, max(interval, backoff * 2))
                stop.wait(backoff)
                continue
            if backoff:
                log.info("outbox relay resumed")
                backoff = 0.0
            if moved < BATCH:
                stop.wait(interval)


def start(app: Flask) -> tuple[threading.Thread, threading.Event]:
    """Run the relay in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=relay_forever, args=(app, stop), name="outbox-relay", daemon=True
    )
    # Leave Ctrl-C and SIGTERM to the main thread. The kernel may hand a process's signal to
    # any thread that doesn't block it, and Python runs handlers only in the main thread: one
    # delivered to the relay would not wake the main thread's sleep (the cron scheduler sleeps
    # up to a minute), and `make run` hung on Ctrl-C. A new thread inherits its creator's
    # mask, so it blocks them from its first instruction on.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return thread, stop
