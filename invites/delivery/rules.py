"""The delivery rules both engines follow: the outbox's jobs and a campaign's send loop.

What a refusal for now does next (try again after a doubling delay, or give up after
MAX_SEND_ATTEMPTS), what a refusal for good means for the address (only a dead one is
suppressed), what a send cut off mid-way is (unknown, never sent again), and that a "this
message is leaving" commit waits for the disk. Written once, so the two engines can't drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from invites.core import suppression
from invites.core.config import Settings
from invites.core.db import AnySession
from mailer import PermanentError, TransientError
from mailer.classify import Reason, Verdict, classify_reply

#: The reason recorded for a message that was on the wire when its run died: it may have
#: arrived, so it is `unknown` and never resent automatically (one email per person).
INTERRUPTED = "interrupted during delivery; not resent"
#: A transient failure that runs out of attempts: not the address's fault.
GAVE_UP = Verdict(None, Reason.UNDEFINED, permanent=False, dead_address=False)
#: Each "this message is leaving" commit must be on disk before the message is on the wire,
#: whatever the server's default: a crash of PostgreSQL must not forget it and send again.
DURABLE = "SET synchronous_commit = on"
#: The same for one transaction only (a pooled session's connection keeps its default).
DURABLE_TRANSACTION = "SET LOCAL synchronous_commit = on"


@dataclass(frozen=True)
class Retry:
    """Refused for now: queue it again, due at `at`."""

    at: datetime
    delay: timedelta
    reason: str


@dataclass(frozen=True)
class GiveUp:
    """Refused for now once too often: failed for good, the address kept (GAVE_UP)."""

    reason: str
    verdict: Verdict = GAVE_UP


def backoff(attempts: int, settings: Settings) -> timedelta:
    """The wait before attempt `attempts + 1`: RETRY_BASE_SECONDS, doubling each time."""
    return timedelta(seconds=settings.retry_base_seconds * 2 ** max(attempts - 1, 0))


def after_transient(
    attempts: int, exc: TransientError, settings: Settings, now: datetime
) -> Retry | GiveUp:
    """What follows a refusal for now on a message tried `attempts` times (this one included)."""
    if attempts >= settings.max_send_attempts:
        return GiveUp(f"gave up after {attempts} attempts: {exc}")
    delay = backoff(attempts, settings)
    return Retry(now + delay, delay, str(exc))


def after_permanent(exc: PermanentError) -> Verdict:
    """What a refusal for good says; `dead_address` (the only case that suppresses) when the
    server said the address itself does not exist."""
    return classify_reply(exc.code, exc.message)


def suppress_dead(
    session: AnySession, email_hash: str | None, verdict: Verdict, now: datetime
) -> bool:
    """Suppress the address if, and only if, the refusal said it does not exist; return
    whether it did. A full mailbox or a policy refusal keeps a person reachable: suppressing a
    live address loses them for good, a missed dead one costs one more attempt."""
    if not verdict.dead_address or not email_hash:
        return False
    suppression.suppress(session, email_hash, suppression.Reason.HARD_BOUNCE, now)
    return True


def durable(conn: Any) -> None:
    """Make every commit on this PostgreSQL connection wait for the disk (SQLAlchemy
    Connection or DBAPI connection alike: both take a statement through `execute`)."""
    if isinstance(conn, Connection):
        conn.execute(text(DURABLE))
    else:
        conn.execute(DURABLE)
