"""API keys for the app backend: created (the secret shown once), stored as a hash, looked up."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import bindparam, select

from invites.core.db import db, utcnow
from invites.core.models import ApiKey

#: What a key may be allowed to do; each API endpoint needs one of these.
SCOPES = ("invitations", "stats", "contacts", "messages", "events")


def digest(key: str) -> str:
    """The stored form of a key."""
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
        key_hash=digest(secret),
        scopes=",".join(sorted(set(scopes))),
        created_at=utcnow(),
    )
    db.session.add(row)
    db.session.commit()
    return row, secret


def lookup_statement(_dialect: str) -> Any:
    """The prebuilt query of a key by its digest: four columns, no ORM."""
    t = ApiKey.__table__
    return select(t.c.id, t.c.scopes, t.c.key_hash, t.c.revoked_at).where(
        t.c.key_hash == bindparam("digest")
    )
