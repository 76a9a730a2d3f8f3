"""Send rates, enforced across every worker on every machine: a moving window in Redis.

A token is taken when a message is about to be handed to SMTP, never when work is queued, so
the limit counts what actually leaves (listmonk's window counts enqueues: its #1762). A worker
that must wait is told how long, and waits outside any lock a person's unsubscribe needs.

Redis away is one more reason to wait, never an error: `take` answers "wait" while the
limiter can't be asked (the worker ends its round, lets go of its locks, and asks again), and
logs the outage as a few counted warnings.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass

from flask import Flask
from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis import RedisError
from redis.backoff import NoBackoff
from redis.retry import Retry

from invites.core import queue

__all__ = ["Limit", "RateLimitItemPerHour", "campaign_limit", "limiter", "relay_limit", "take"]

log = logging.getLogger(__name__)

#: Seconds a per-second counter of sent messages is kept (the page's one-minute rate).
_RATE_KEY_TTL = 120
#: The longest wait `take` asks for while Redis is away: how soon sending resumes after.
_OUTAGE_WAIT_CAP = 1.0


def _storage_uri(app: Flask) -> str:
    url = app.config["SETTINGS"].redis_url
    if url:
        return str(url).replace("unix://", "redis+unix://", 1) if url.startswith("unix://") else url
    conn = queue.connection(app)
    return "redis+unix://" + conn.connection_pool.connection_kwargs["path"]


def limiter(app: Flask) -> MovingWindowRateLimiter:
    """This process's moving-window limiter on the app's Redis."""
    found = app.extensions.get("spotcam_send_limiter")
    if found is None:
        # No retries of its own: a refused connection answers at once, and `take` turns it into
        # a wait outside the round's locks (redis-py's default retries would sleep in them).
        storage = storage_from_string(
            _storage_uri(app),
            retry=Retry(NoBackoff(), 0),  # type: ignore[arg-type]
            socket_connect_timeout=2,
            socket_timeout=5,
        )
        found = MovingWindowRateLimiter(storage)
        app.extensions["spotcam_send_limiter"] = found
    return found


@dataclass(frozen=True)
class Limit:
    """One limit: `per_second` messages for everything that shares `key`."""

    key: str
    per_second: int

    @property
    def item(self) -> RateLimitItem:
        """The limits library's form of it."""
        return RateLimitItemPerSecond(self.per_second)


def relay_limit(app: Flask) -> Limit | None:
    """The SMTP relay's own limit, shared by every campaign and worker (None: unlimited)."""
    settings = app.config["SETTINGS"]
    if not settings.smtp_rate_per_second:
        return None
    relay = settings.smtp_url or "outbox"
    return Limit(f"relay:{relay.rpartition('@')[2]}", settings.smtp_rate_per_second)


def campaign_limit(campaign_id: int, per_second: int | None) -> Limit | None:
    """A campaign's own limit (None: only the relay's)."""
    return Limit(f"campaign:{campaign_id}", per_second) if per_second else None


class _Outage:
    """This process's view of a Redis outage, as the limiter meets it: since when, how often."""

    started = 0.0
    attempts = 0

    @classmethod
    def wait(cls, exc: RedisError) -> float:
        """Count one refused attempt, log it (the first, then every tenth); return the wait."""
        now = time.monotonic()
        cls.started = cls.started or now
        cls.attempts += 1
        if cls.attempts == 1 or cls.attempts % 10 == 0:
            log.warning(
                "rate limiter: Redis unreachable for %.0f s (attempt %d), sending waits: %s",
                now - cls.started,
                cls.attempts,
                type(exc).__name__,
            )
        return min(_OUTAGE_WAIT_CAP, 0.05 * 2**cls.attempts)

    @classmethod
    def over(cls) -> None:
        """Redis answered: log the end of an outage, if there was one."""
        if cls.attempts:
            log.warning(
                "rate limiter: Redis reachable again after %.1f s (%d attempts)",
                time.monotonic() - cls.started,
                cls.attempts,
            )
            cls.started, cls.attempts = 0.0, 0


def take(app: Flask, limits: list[Limit]) -> float:
    """Take one token from every limit; return 0, or the seconds to wait before trying again.

    All or nothing: a token taken from the first limit when the second refuses is a message
    that never left, counted against the first, so the check comes before the hits. While
    Redis is away nothing can be counted, so nothing may leave: the answer is a wait.
    """
    try:
        wait = _take(app, limits)
    except RedisError as exc:
        return _Outage.wait(exc)
    _Outage.over()
    return wait


def _take(app: Flask, limits: list[Limit]) -> float:
    strategy = limiter(app)
    wait = 0.0
    for limit in limits:
        if not strategy.test(limit.item, "send", limit.key):
            reset = strategy.get_window_stats(limit.item, "send", limit.key).reset_time
            wait = max(wait, reset - time.time(), 0.001)
    if wait:
        return wait
    for limit in limits:
        if not strategy.hit(limit.item, "send", limit.key):
            # Another worker took the last token between our test and our hit.
            return 0.01
    return 0.0


def count_sent(app: Flask, campaign_id: int, sent_at_epoch: list[int]) -> None:
    """Add sends to per-second counters, from which the page reads the one-minute rate."""
    if not sent_at_epoch:
        return
    conn = queue.connection(app)
    with conn.pipeline(transaction=False) as pipe:
        # One INCRBY per second, not one INCR per message: a round's hundred sends fall in
        # one or two seconds.
        for second, sent in Counter(sent_at_epoch).items():
            key = f"spotcam:campaign:{campaign_id}:sent:{second}"
            pipe.incrby(key, sent)
            pipe.expire(key, _RATE_KEY_TTL)
        pipe.execute()


def rate_last_minute(app: Flask, campaign_id: int) -> float:
    """Messages per second this campaign sent over the last minute, all workers together."""
    now = int(time.time())
    keys = [f"spotcam:campaign:{campaign_id}:sent:{s}" for s in range(now - 60, now)]
    values: list[bytes | None] = queue.connection(app).mget(keys)  # type: ignore[assignment]
    return sum(int(v) for v in values if v) / 60.0


def sent_per_second(app: Flask, campaign_id: int, seconds: int, now: int) -> list[int]:
    """Messages this campaign sent in each of the `seconds` whole seconds before `now` (epoch),
    oldest first, all workers together (zeros where nothing left; at most what the counters
    keep)."""
    seconds = max(1, min(seconds, _RATE_KEY_TTL))
    keys = [f"spotcam:campaign:{campaign_id}:sent:{s}" for s in range(now - seconds, now)]
    values: list[bytes | None] = queue.connection(app).mget(keys)  # type: ignore[assignment]
    return [int(v) if v else 0 for v in values]
