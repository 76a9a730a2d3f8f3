"""API keys on each request: the bearer key, its scope check and a short per-process cache."""

from __future__ import annotations

import functools
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, g, request
from sqlalchemy import bindparam, select

from ..apikeys import SCOPES, create_key
from ..apikeys import digest as digest_of
from ..db import db, run
from ..errors import ApiProblem
from ..models import ApiKey

# Creation lives in invites.apikeys (the CLI and the console manage keys too); the names stay
# importable from here for the code and tests that used them.
__all__ = ["SCOPES", "Caller", "authenticate", "create_key", "require"]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Caller:
    """The API key behind a request: its id and scopes (never its secret)."""

    id: int
    scopes: frozenset[str]


def authenticate(header: str | None) -> Caller:
    """Return the active key named by an Authorization header, or raise a 401 problem."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem(
            401,
            "Unauthorized",
            "Send 'Authorization: Bearer <api key>'.",
            slug="unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    digest = digest_of(token.strip())
    cache: dict[str, tuple[float, Caller]] = current_app.extensions.setdefault("spotcam_keys", {})
    hit = cache.get(digest)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    # A prebuilt Core query of four columns: every API request that misses the cache pays it.
    # A read is safe to repeat: after a database restart nobody sees a 500 for it.
    row = run(db.session, ("api-key",), _lookup, {"digest": digest}, retry_dead=True).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
        raise ApiProblem(
            401,
            "Unauthorized",
            "The API key is not valid or was revoked.",
            slug="unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    caller = Caller(row.id, frozenset(s for s in row.scopes.split(",") if s))
    ttl = current_app.config["SETTINGS"].api_key_cache_seconds
    if ttl:
        # Per process and short-lived: a revoked key stops working everywhere within the TTL.
        # Only valid keys are cached, so guessing can't fill it; the bound is a backstop.
        if len(cache) >= 1000:
            cache.clear()
        cache[digest] = (time.monotonic() + ttl, caller)
    return caller


def _lookup(_dialect: str) -> Any:
    t = ApiKey.__table__
    return select(t.c.id, t.c.scopes, t.c.key_hash, t.c.revoked_at).where(
        t.c.key_hash == bindparam("digest")
    )


def require(scope: str) -> Callable[[F], F]:
    """Decorate a view so it needs a key with this scope (401 without a key, 403 without scope)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            key = authenticate(request.headers.get("Authorization"))
            if scope not in key.scopes:
                raise ApiProblem(
                    403, "Forbidden", f"This API key lacks the '{scope}' scope.", slug="forbidden"
                )
            g.api_key = key
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
