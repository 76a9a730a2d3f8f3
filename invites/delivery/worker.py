"""Running RQ workers and the cron scheduler inside the app context."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import redis
import rq.cron as rq_cron
from flask import current_app
from rq import Queue, SimpleWorker, Worker
from rq.cron import CronScheduler
from rq.exceptions import InvalidJobOperationError, SchedulerNotFound, StopRequested
from rq.serializers import JSONSerializer
from rq.worker import BaseWorker
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from werkzeug.utils import import_string

from invites.core import periodic, queue
from invites.core.db import clean_slate, db
from invites.delivery import relay
from mailer import redact

log = logging.getLogger(__name__)

#: Longest pause between attempts while Redis is unreachable (seconds).
MAX_BACKOFF_SECONDS = 5.0
#: A worker idle this long (seconds) tries its database connection before the next job: a
#: busy one finds a dead connection through the job that meets it, at no cost per job.
PROBE_AFTER_IDLE_SECONDS = 1.0
#: What core.logs tags every record with: a caller's `extra` must not name them again.
_RECORD_TAGS = frozenset({"job_id", "job", "request_id", "path"})
#: A traceback kept in Redis for a failed job: long enough to debug, addresses blanked out.
_TRACEBACK_LIMIT = 20_000


class _ClashFree(logging.LoggerAdapter):
    """A logger that leaves out `extra` fields every record of ours carries already."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        """Drop the clashing fields (the record has them, with the same values)."""
        extra = kwargs.get("extra")
        if extra:
            kwargs["extra"] = {k: v for k, v in extra.items() if k not in _RECORD_TAGS}
        return msg, kwargs


class _Redacting:
    """Worker behaviour shared by both kinds: no address in the failed-job record RQ keeps."""

    log: Any

    def handle_exception(self, job: Any, *exc_info: Any) -> Any:
        """Log a failed job as RQ does, without ending the worker over the log line."""
        # RQ passes `extra={"job_id": ...}`, and every record here is tagged with its job id
        # already (core.logs): logging refuses to overwrite it with a KeyError that escaped the
        # failure handling and ended an in-process worker at its first failed job.
        plain = self.log
        self.log = _ClashFree(plain, {})
        try:
            return super().handle_exception(job, *exc_info)  # type: ignore[misc]
        finally:
            self.log = plain

    def handle_job_failure(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> Any:
        """Record the failure as RQ does, with addresses removed from the traceback text."""
        if "exc_string" in kwargs and kwargs["exc_string"]:
            kwargs["exc_string"] = redact(kwargs["exc_string"], _TRACEBACK_LIMIT)
        elif len(args) >= 2 and isinstance(args[1], str):
            args = (args[0], redact(args[1], _TRACEBACK_LIMIT), *args[2:])
        return super().handle_job_failure(job, queue, *args, **kwargs)  # type: ignore[misc]


class _StopsPromptly:
    """Worker behaviour shared by both kinds: shutting down takes no minute-long wait."""

    pubsub_thread: Any

    def unsubscribe(self) -> None:
        """Stop the command thread, then let RQ unsubscribe it and wait for it as it does."""
        # RQ unsubscribes first and stops the thread after. If the thread reads the
        # unsubscribe reply before its stop flag is down, redis-py (8.x) has it wait up to RQ's
        # 60 s for a new subscription, and stop() joins it: every worker exit (a burst run,
        # Ctrl-C under `make run`) could take a minute. With the flag down first, the reply
        # ends the thread at once. timeout=0: only lower the flag here; RQ joins it below.
        thread = self.pubsub_thread
        if thread is not None:
            thread.stop(timeout=0)
        super().unsubscribe()  # type: ignore[misc]


class _Heals:
    """In-process worker behaviour: each job starts on a clean session and a live pool, and a
    job that died of a dead database connection runs once more.

    A forked work-horse starts with a fresh pool anyway (MailWorker); a worker that runs jobs
    in its own process keeps one app context, one session and one pool for its whole life.
    """

    _ended_at: float = 0.0
    _last_failed: bool = False
    _dead_connection: bool = False

    def perform_job(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> bool:
        """Run the job after clearing what the last one left; clear again after it."""
        idle = time.monotonic() - self._ended_at
        # Probe after a pause (the database may have restarted meanwhile) or a failed job
        # (it may have died of a dead connection): back-to-back jobs pay no round trip.
        clean_slate(probe=self._last_failed or idle >= PROBE_AFTER_IDLE_SECONDS)
        self._dead_connection = False
        ok = False
        try:
            ok = bool(super().perform_job(job, queue, *args, **kwargs))  # type: ignore[misc]
            return ok
        finally:
            self._last_failed = not ok
            clean_slate(probe=False)
            self._ended_at = time.monotonic()
            if not ok and self._dead_connection:
                _once_more(job)

    def handle_exception(self, job: Any, *exc_info: Any) -> Any:
        """Note whether the job died of a dead database connection, then log it as RQ does."""
        self._dead_connection = _is_dead_connection(exc_info[1])
        return super().handle_exception(job, *exc_info)  # type: ignore[misc]


def _is_dead_connection(exc: BaseException | None) -> bool:
    # A terminated backend, a restart or failover: the driver's error with the connection
    # invalidated, or the session's refusal to go on after one.
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated)
    return isinstance(exc, PendingRollbackError)


def _once_more(job: Any) -> None:
    """Queue a job that died of a dead connection again, once: every job here may run twice
    (a claim, a lease or the ledger's unique keys see to it), and this one may have died
    before doing anything, on a connection the database dropped while the worker was busy."""
    if job.meta.get("reconnected"):
        return
    try:
        job.meta["reconnected"] = 1
        job.save_meta()
        job.requeue()
    except (redis.RedisError, InvalidJobOperationError) as exc:
        # Best effort: the periodic jobs (the tick, the reconciler) redo what is left undone.
        log.warning("job %s met a dead database connection; not queued again: %s", job.id, exc)
        return
    log.warning("job %s met a dead database connection; queued once more", job.id)


class MailWorker(_StopsPromptly, _Redacting, Worker):
    """A forking worker whose child never reuses the parent's database connections."""

    def main_work_horse(self, *args: Any, **kwargs: Any) -> None:
        """Run the job in the forked child, with a fresh connection pool."""
        # SQLAlchemy: a forked child must not share pooled sockets with its parent.
        db.engine.dispose(close=False)
        super().main_work_horse(*args, **kwargs)


class InProcessWorker(_Heals, _StopsPromptly, _Redacting, SimpleWorker):
    """Runs each job in the worker's own process (`--simple`, and the tests' burst runs)."""


def make_worker(names: list[str], simple: bool = False) -> BaseWorker:
    """Build a worker for these queues (JSON serializer, same Redis as the app)."""
    cls: type[BaseWorker] = InProcessWorker if simple else MailWorker
    conn = queue.connection()
    return cls([queue.queue(n) for n in names], connection=conn, serializer=JSONSerializer)


def run_worker(names: list[str], burst: bool = False, simple: bool = False) -> bool:
    """Work the queues until stopped (or until empty with burst)."""
    if not burst:
        # Through a Redis outage the worker, RQ's bookkeeping and the jobs' counters wait for
        # it to come back; RQ's own loop would end the process at the first failed command. A
        # burst run is a one-off, and says at once that Redis is away.
        queue.ride_out_outages()
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


class ResilientCron(CronScheduler):
    """RQ's cron scheduler, whose loop rides out a Redis outage instead of dying of it.

    RQ's own loop lets a ConnectionError end the process (and with it this process's outbox
    relay thread); here a failed round is logged once, retried with backoff, and the jobs
    that came due meanwhile are enqueued when Redis is back.
    """

    def start(self) -> None:
        """Run until SIGINT or SIGTERM; a Redis failure pauses the loop, never ends it."""
        self.log.info("CronScheduler %s: starting...", self.name)
        self._install_signal_handlers()
        self.run()

    def run(self) -> None:
        """The loop, once the stop signals' handlers are in place."""
        backoff = 0.0
        registered = False
        try:
            while True:
                try:
                    if not registered:
                        self.register_birth()
                        registered = True
                    if self.enqueue_jobs():
                        self.save()
                    self.heartbeat()
                except redis.RedisError as exc:
                    if not backoff:
                        log.warning("scheduler paused, Redis unreachable, retrying: %s", exc)
                    backoff = min(MAX_BACKOFF_SECONDS, max(0.5, backoff * 2))
                    time.sleep(backoff)
                    continue
                if backoff:
                    log.info("scheduler resumed")
                    backoff = 0.0
                pause = self.calculate_sleep_interval()
                if pause > 0:
                    time.sleep(pause)
        except (KeyboardInterrupt, StopRequested):
            self.log.info("CronScheduler %s: stop requested", self.name)
        finally:
            # Stopped before it registered (a signal right at start-up), there is nothing to
            # take back; without Redis, or after an outage long enough for the entry to have
            # expired, it is gone already.
            if registered:
                with contextlib.suppress(redis.RedisError, SchedulerNotFound):
                    self.register_death()
            self.log.info("CronScheduler %s: shutdown complete", self.name)


def make_scheduler() -> ResilientCron:
    """RQ's cron scheduler with the periodic jobs registered (not started)."""
    settings = current_app.config["SETTINGS"]
    # RQ's cron enqueues through rq.cron.Queue with the default (pickle) serializer, which our
    # JSON-only workers refuse; in the scheduler's process it gets a JSON queue instead.
    rq_cron.Queue = JsonQueue  # type: ignore[misc]
    cron = ResilientCron(connection=queue.connection(), logging_level="INFO")
    # What each area registered; every job is idempotent, so a second scheduler on another
    # machine does no harm.
    for job in periodic.registered():
        cron.register(import_string(job.function), job.queue, interval=job.seconds(settings))
    return cron


def run_scheduler() -> None:
    """Run the outbox relay and the cron scheduler until stopped."""
    cron = make_scheduler()
    settings = current_app.config["SETTINGS"]
    # The stop signals are handled from here on: a supervisor (or a test) that stops the
    # process as soon as it says it started gets a clean stop, not a death by SIGTERM.
    cron._install_signal_handlers()
    thread: threading.Thread | None = None
    stop = threading.Event()
    try:
        log.info(
            "scheduler started: outbox relay every %s ms, reconcile every %ss, "
            "retention and housekeeping hourly",
            settings.relay_interval_ms,
            settings.reconcile_interval_seconds,
        )
        thread, stop = relay.start(current_app._get_current_object())  # type: ignore[attr-defined]
        cron.run()
    except (KeyboardInterrupt, StopRequested):
        # Stopped before the loop began; the loop handles a stop once inside it.
        log.info("scheduler stopped before its first round")
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=10)
