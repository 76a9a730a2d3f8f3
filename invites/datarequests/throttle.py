"""Data requests limited per address and per client IP, counted in Redis with `limits`' moving
window (as console sign-ins are: invites.console.throttle), across every web process.

The address counter is named by the keyed hash, so Redis never holds an address. Every
request counts, whether or not anything is held, so the limit says nothing about that either.
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from invites.core import queue

KEY_PREFIX = "spotcam-data-request"


class RequestThrottle:
    """Counts data requests per client IP and per address against the configured rates."""

    def __init__(self, storage: RedisStorage, per_ip: str, per_address: str) -> None:
        self.window = MovingWindowRateLimiter(storage)
        self.rules: tuple[tuple[str, list[RateLimitItem]], ...] = (
            ("ip", parse_many(per_ip)),
            ("address", parse_many(per_address)),
        )

    def attempt(self, ip: str | None, email_hash: str) -> int | None:
        """Count one request; None if it may go ahead, else seconds until one may.

        `ip` None (a staff request) counts against the address only."""
        keys = {"ip": ip, "address": email_hash}
        for scope, items in self.rules:
            key = keys[scope]
            if key is None:
                continue
            for item in items:
                if not self.window.hit(item, scope, key):
                    reset_at, _ = self.window.get_window_stats(item, scope, key)
                    return max(1, math.ceil(reset_at - time.time()))
        return None


def throttle(app: Flask | None = None) -> RequestThrottle:
    """This app's data-request throttle, made at the first request (no I/O at start)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found: RequestThrottle | None = app.extensions.get("spotcam_data_request_throttle")
    if found is None:
        settings = app.config["SETTINGS"]
        pool = queue.connection(app).connection_pool
        storage = RedisStorage("redis://", connection_pool=pool, key_prefix=KEY_PREFIX)
        found = RequestThrottle(
            storage, settings.data_request_limit_per_ip, settings.data_request_limit_per_address
        )
        app.extensions["spotcam_data_request_throttle"] = found
    return found
