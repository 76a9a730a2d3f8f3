"""API keys: creation (shown once, stored hashed) and the scope check on each request."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from sqlalchemy import select

from ..db import db, utcnow
from ..errors import ApiProblem
from ..models import ApiKey

SCOPES = ("invitations", "stats", "contacts", "messages", "events")
F = TypeVar("F", bound=Callable[..., Any])


def _digest(key: str) -> str:
    # Keys are 256-bit random strings, so a fast unsalted hash is enough to store them safely.
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Create a key; return the row and the secret, which is never stored or shown again."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    prefix = secrets.token_hex(4)
    secret = f"sk_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        name=name,
        prefix=prefix,
        key_hash=_digest(secret),
        scopes=",".join(sorted(set(scopes))),
        created_at=utcnow(),
    )
    db.session.add(row)
    db.session.commit()
    return row, secret


def authenticate(header: str | None) -> ApiKey:
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
    digest = _digest(token.strip())
    row = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
        raise ApiProblem(
            401,
            "Unauthorized",
            "The API key is not valid or was revoked.",
            slug="unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return row


def require(scope: str) -> Callable[[F], F]:
    """Decorate a view so it needs a key with this scope (401 without a key, 403 without scope)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            key = authenticate(request.headers.get("Authorization"))
            if scope not in key.scope_set:
                raise ApiProblem(
                    403, "Forbidden", f"This API key lacks the '{scope}' scope.", slug="forbidden"
                )
            g.api_key = key
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
