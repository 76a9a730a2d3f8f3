"""API keys: created with a secret shown once, stored as a SHA-256, revoked by prefix.

Shared by the API (which checks keys), the CLI and the console (which manage them).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from invites.core.db import AnySession, db, utcnow
from invites.core.models import ApiKey

SCOPES = ("invitations", "stats", "contacts", "messages", "events")
NAME_LENGTH = 100


def digest(key: str) -> str:
    """The stored form of a key."""
    # Keys are 256-bit random strings, so a fast unsalted hash is enough to store them safely.
    return hashlib.sha256(key.encode()).hexdigest()


def create(session: AnySession, name: str, scopes: list[str], now: datetime) -> tuple[ApiKey, str]:
    """Add a key to the session; return the row and the secret, which is never stored."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not scopes:
        raise ValueError("a key needs at least one scope")
    if not name.strip() or len(name) > NAME_LENGTH:
        raise ValueError(f"a key needs a name of 1 to {NAME_LENGTH} characters")
    prefix = secrets.token_hex(4)
    secret = f"sk_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        name=name.strip(),
        prefix=prefix,
        key_hash=digest(secret),
        scopes=",".join(sorted(set(scopes))),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, secret


def create_key(name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Create a key and commit it; return the row and the secret, never stored or shown again."""
    row, secret = create(db.session, name, scopes, utcnow())
    db.session.commit()
    return row, secret


def revoke(session: AnySession, prefix: str, now: datetime) -> ApiKey | None:
    """Revoke the key with this prefix (again is harmless); None if there is none."""
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
    return row


def all_keys(session: AnySession) -> list[ApiKey]:
    """Every key, active ones first, newest first."""
    order = (ApiKey.revoked_at.is_not(None), ApiKey.id.desc())
    return list(session.scalars(select(ApiKey).order_by(*order)))


def lookup_statement(_dialect: str) -> Any:
    """The prebuilt query of a key by its digest: four columns, no ORM."""
    t = ApiKey.__table__
    return select(t.c.id, t.c.scopes, t.c.key_hash, t.c.revoked_at).where(
        t.c.key_hash == bindparam("digest")
    )
