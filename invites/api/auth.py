"""The API's authentication: a bearer key, cached briefly, and the scope each view needs."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, g, request

from invites.core import apikeys
from invites.core.db import db, run
from invites.core.errors import ApiProblem

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
    digest = apikeys.digest(token.strip())
    cache: dict[str, tuple[float, Caller]] = current_app.extensions.setdefault("spotcam_keys", {})
    hit = cache.get(digest)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    # A prebuilt Core query of four columns: every API request that misses the cache pays it.
    # A read is safe to repeat: after a database restart nobody sees a 500 for it.
    row = run(
        db.session, ("api-key",), apikeys.lookup_statement, {"digest": digest}, retry_dead=True
    ).first()
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


def require(scope: str) -> Callable[[F], F]:
    """Mark a view as needing a key with this scope; the API's route group checks it."""

    def mark(view: F) -> F:
        view.api_scope = scope  # type: ignore[attr-defined]
        return view

    return mark


def public(view: F) -> F:
    """Mark a view that needs no key (the OpenAPI document)."""
    view.api_public = True  # type: ignore[attr-defined]
    return view


def check_request() -> None:
    """Authenticate every request to the API's route group, and check its view's scope.

    Registered once on the group, so an endpoint can't forget it: a view that declares no
    scope (and isn't marked public) is refused to every key.
    """
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "api_public", False):
        return
    key = authenticate(request.headers.get("Authorization"))
    scope = getattr(view, "api_scope", None)
    if scope is None or scope not in key.scopes:
        raise ApiProblem(
            403, "Forbidden", f"This API key lacks the '{scope}' scope.", slug="forbidden"
        )
    g.api_key = key
