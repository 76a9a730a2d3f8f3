"""Idempotency-Key support: the same key returns the same answer and does the work once."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Response, current_app, g, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from invites.core.db import AnySession, db, utcnow
from invites.core.errors import ApiProblem, invalid
from invites.core.models import IdempotencyRecord

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
#: 1-255 printable ASCII characters, no space (shown as is in the OpenAPI document).
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_VALID = re.compile(KEY_PATTERN)


def key_from_request() -> str | None:
    """Return the request's Idempotency-Key, validated, or None."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _VALID.fullmatch(key):
        raise invalid(
            HEADER, "invalid format", "Idempotency-Key must be 1-255 printable ASCII characters."
        )
    return key


def request_fingerprint() -> str:
    """A keyed hash of what the request asks for, to catch a key reused for another request.

    Keyed like address hashes: a body can hold an address, and a plain hash of a guessable
    body would tell who was invited to anyone who reads the table.
    """
    key = current_app.config["SETTINGS"].address_hash_key.encode()
    body = request.method.encode() + request.path.encode() + b"\0" + request.get_data()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def replay(session: AnySession, api_key_id: int, key: str, fingerprint: str) -> Response | None:
    """Return the stored answer for this key, None if the key is new; 422 if reused differently."""
    row = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key
        )
    )
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise ApiProblem(
            422,
            "Idempotency key reused",
            "This Idempotency-Key was already used with a different request.",
            slug="idempotency-key-reused",
        )
    resp = Response(row.body, status=row.status_code, mimetype="application/json")
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def record(
    session: AnySession, api_key_id: int, key: str, fingerprint: str, status: int, body: str
) -> None:
    """Store the answer in the caller's transaction, so it commits with the work it describes."""
    session.add(
        IdempotencyRecord(
            api_key_id=api_key_id,
            key=key,
            request_hash=fingerprint,
            status_code=status,
            body=body,
            created_at=utcnow(),
        )
    )


def purge(session: AnySession, before: datetime) -> int:
    """Forget answers stored before `before` (the processing register says how long they
    are kept; `invites.privacy.jobs` runs this)."""
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Outcome:
    """What a write endpoint answers."""

    status: int
    body: str


def respond(work: Callable[[bool], Outcome]) -> Response:
    """Run `work` at most once per Idempotency-Key and answer with its (stored) outcome.

    The stored answer commits in the same transaction as the work, so a replay can never
    describe work that didn't happen, and outbox wake-ups commit with it too. `work` is told
    whether it is alone: with no key there is no answer to commit with it, so work that
    is a single statement may commit on its own.
    """
    key = key_from_request()
    fingerprint = request_fingerprint() if key else ""
    session = db.session
    api_key_id = g.api_key.id
    if key:
        stored = replay(session, api_key_id, key, fingerprint)
        if stored is not None:
            return stored
    try:
        outcome = work(not key)
        if key:
            record(session, api_key_id, key, fingerprint, outcome.status, outcome.body)
        # Work that committed by itself may not even have made a Session: nothing to commit.
        if session.registry.has() and session().in_transaction():
            session.commit()
    except IntegrityError:
        # A concurrent request with the same key won the race; answer as it did.
        session.rollback()
        stored = replay(session, api_key_id, key, fingerprint) if key else None
        if stored is None:
            raise
        return stored
    except Exception:
        session.rollback()
        raise
    return Response(outcome.body, status=outcome.status, mimetype="application/json")
