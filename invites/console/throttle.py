"""Sign-in attempts limited per account and per client IP, counted in Redis.

`limits` (the rate-limit engine behind Flask-Limiter) with a moving window on the app's own
Redis client (REDIS_URL or the embedded server, through invites.queue), so every web process
on every machine counts against the same limit. The check is made in the sign-in view, not
by Flask-Limiter's app-wide hooks, which cost every request of the app, API included, about
35 µs of CPU (measured) for a limit on one page.

Every attempt counts, successful or not: counting only failures means checking first and
counting after, and a burst of parallel guesses would all pass the check.

Two-factor codes are counted the same way and against the same limits, but in counters of
their own (`step="code"`): someone who knows the password still has only so many guesses at
a code, and a person's own sign-in doesn't spend two of their password attempts.
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from invites.core import queue
from invites.core.atrest import vault
from invites.staff import StaffError
from invites.staff.users import normalize_email

#: Namespace of the counters in Redis.
KEY_PREFIX = "spotcam-login"


class LoginThrottle:
    """Counts sign-in attempts per IP and per account against the configured rates."""

    def __init__(self, storage: RedisStorage, per_ip: str, per_account: str) -> None:
        self.window = MovingWindowRateLimiter(storage)
        self.rules: tuple[tuple[str, list[RateLimitItem]], ...] = (
            ("ip", parse_many(per_ip)),
            ("account", parse_many(per_account)),
        )

    def attempt(self, ip: str, email: str, step: str = "password") -> int | None:
        """Count one attempt at a sign-in step (the password, or a two-factor code); None if
        it may go ahead, else seconds until one may."""
        keys = {"ip": ip or "unknown", "account": account_key(email)}
        for scope, items in self.rules:
            # The password step keeps the counters' first names, so a deploy resets nothing.
            name = scope if step == "password" else f"{step}-{scope}"
            for item in items:
                if not self.window.hit(item, name, keys[scope]):
                    reset_at, _ = self.window.get_window_stats(item, name, keys[scope])
                    return max(1, math.ceil(reset_at - time.time()))
        return None


def account_key(email: str) -> str:
    """The counter's name for a typed login: the keyed hash of its stored form, the one
    `staff_users.email_hash` holds.

    Keyed (ADDRESS_HASH_KEY, which Redis doesn't hold): Redis keeps no address, and no
    password typed into the email field, not even one a list of guesses could undo as it
    could a plain digest.
    """
    try:
        login = normalize_email(email)
    except StaffError:
        login = email.strip().lower()
    return vault().hash(login)


def throttle(app: Flask | None = None) -> LoginThrottle:
    """This app's sign-in throttle, made at the first sign-in (not at start: no I/O then)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found: LoginThrottle | None = app.extensions.get("spotcam_login_throttle")
    if found is None:
        settings = app.config["SETTINGS"]
        pool = queue.connection(app).connection_pool
        storage = RedisStorage("redis://", connection_pool=pool, key_prefix=KEY_PREFIX)
        found = LoginThrottle(
            storage, settings.login_limit_per_ip, settings.login_limit_per_account
        )
        app.extensions["spotcam_login_throttle"] = found
    return found
