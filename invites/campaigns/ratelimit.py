"""Send rates, enforced across every worker on every machine: a moving window in Redis.

A token is taken when a message is about to be handed to SMTP, never when work is queued, so
the limit counts what actually leaves (listmonk's window counts enqueues: its #1762). A worker
that must wait is told how long, and waits outside any lock a person's unsubscribe needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Flask
from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from invites.core import queue

__all__ = ["Limit", "RateLimitItemPerHour", "campaign_limit", "limiter", "relay_limit", "take"]

#: Seconds a per-second counter of sent messages is kept (the page's one-minute rate).
_RATE_KEY_TTL = 120


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
        found = MovingWindowRateLimiter(storage_from_string(_storage_uri(app)))
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


def take(app: Flask, limits: list[Limit]) -> float:
    """Take one token from every limit; return 0, or the seconds to wait before trying again.

    All or nothing: a token taken from the first limit when the second refuses is a message
    that never left, counted against the first, so the check comes before the hits.
    """
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
        for second in sent_at_epoch:
            key = f"spotcam:campaign:{campaign_id}:sent:{second}"
            pipe.incr(key)
            pipe.expire(key, _RATE_KEY_TTL)
        pipe.execute()


def rate_last_minute(app: Flask, campaign_id: int) -> float:
    """Messages per second this campaign sent over the last minute, all workers together."""
    now = int(time.time())
    keys = [f"spotcam:campaign:{campaign_id}:sent:{s}" for s in range(now - 60, now)]
    values: list[bytes | None] = queue.connection(app).mget(keys)  # type: ignore[assignment]
    return sum(int(v) for v in values if v) / 60.0
