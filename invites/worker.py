"""Running RQ workers and the cron scheduler inside the app context."""

from __future__ import annotations

import logging
from typing import Any

import rq.cron as rq_cron
from flask import current_app
from rq import Queue, SimpleWorker, Worker
from rq.cron import CronScheduler
from rq.serializers import JSONSerializer
from rq.worker import BaseWorker

from . import queue, relay
from .db import db

log = logging.getLogger(__name__)


class MailWorker(Worker):
    """A forking worker whose child never reuses the parent's database connections."""

    def main_work_horse(self, *args: Any, **kwargs: Any) -> None:
        """Run the job in the forked child, with a fresh connection pool."""
        # SQLAlchemy: a forked child must not share pooled sockets with its parent.
        db.engine.dispose(close=False)
        super().main_work_horse(*args, **kwargs)


def make_worker(names: list[str], simple: bool = False) -> BaseWorker:
    """Build a worker for these queues (JSON serializer, same Redis as the app)."""
    cls: type[BaseWorker] = SimpleWorker if simple else MailWorker
    conn = queue.connection()
    return cls([queue.queue(n) for n in names], connection=conn, serializer=JSONSerializer)


def run_worker(names: list[str], burst: bool = False, simple: bool = False) -> bool:
    """Work the queues until stopped (or until empty with burst)."""
    worker = make_worker(names, simple)
    if burst:
        # "Drain the queues" includes messages whose jobs the relay has yet to enqueue.
        relay.drain()
    # Release the parent's connections before forking children.
    db.engine.dispose()
    return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")


class JsonQueue(Queue):
    """A queue that always uses the JSON serializer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["serializer"] = JSONSerializer
        super().__init__(*args, **kwargs)


def make_scheduler() -> CronScheduler:
    """RQ's cron scheduler with the periodic jobs registered (not started)."""
    settings = current_app.config["SETTINGS"]
    # RQ's cron enqueues through rq.cron.Queue with the default (pickle) serializer, which our
    # JSON-only workers refuse; in the scheduler's process it gets a JSON queue instead.
    rq_cron.Queue = JsonQueue  # type: ignore[misc]
    cron = CronScheduler(connection=queue.connection(), logging_level="INFO")
    # Every job is idempotent, so a second scheduler on another machine does no harm.
    cron.register(
        _job("reconcile_outbox"), queue.MAIL_QUEUE, interval=settings.reconcile_interval_seconds
    )
    cron.register(_job("expire_invitations"), queue.MAIL_QUEUE, interval=3600)
    cron.register(_job("housekeeping"), queue.MAIL_QUEUE, interval=3600)
    return cron


def run_scheduler() -> None:
    """Run the outbox relay and the cron scheduler until stopped."""
    cron = make_scheduler()
    settings = current_app.config["SETTINGS"]
    log.info(
        "scheduler started: outbox relay every %s ms, reconcile every %ss, "
        "retention and housekeeping hourly",
        settings.relay_interval_ms,
        settings.reconcile_interval_seconds,
    )
    thread, stop = relay.start(current_app._get_current_object())  # type: ignore[attr-defined]
    try:
        cron.start()
    finally:
        stop.set()
        thread.join(timeout=10)


def _job(name: str) -> Any:
    from . import jobs

    return getattr(jobs, name)
