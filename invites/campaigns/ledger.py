"""The ledger writes a batch makes for every message: prepared statements on a raw connection.

Two statements per message at most, each committed: "this one is on its way" before the
message leaves, and what happened to the one before, folded into the same statement. They run
on the driver's own connection with server-side prepared statements, because SQLAlchemy's
execution layer cost more CPU per message than building and sending the email.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Engine

from invites.campaigns.models import Delivery
from mailer import redact


@dataclass(frozen=True)
class Outcome:
    """What happened to one contact's message, still to be written."""

    #: The ledger row's id (its primary key).
    row_id: int
    status: Delivery
    reason: str | None = None
    sent_at: datetime | None = None


# Rows are addressed by primary key alone. Once (campaign_id, ...) was in the WHERE clause, a
# generic plan made while the ledger's statistics were stale (a campaign fills it in seconds)
# chose the (campaign_id, status) index and read every queued row for each message: 9 ms a
# message at 67,000 contacts instead of 0.1, measured. A primary key has only one plan.
#
# PostgreSQL: the previous message's outcome and this one's "sending", in one statement and
# one commit. The CASE picks per row; each row is only touched from the state it must be in.
_BOTH = """
UPDATE campaign_deliveries SET
    status = CASE WHEN id = %(prev)s THEN %(status)s ELSE 'sending' END,
    reason = CASE WHEN id = %(prev)s THEN %(reason)s ELSE NULL END,
    sent_at = CASE WHEN id = %(prev)s THEN %(sent_at)s ELSE NULL END,
    attempts = CASE WHEN id = %(prev)s THEN attempts ELSE attempts + 1 END,
    updated_at = %(now)s
WHERE (id = %(prev)s AND status = 'sending') OR (id = %(row)s AND status = 'queued')
RETURNING id
"""
_SENDING = """
UPDATE campaign_deliveries SET status = 'sending', attempts = attempts + 1, updated_at = %(now)s
WHERE id = %(row)s AND status = 'queued'
"""
_OUTCOME = """
UPDATE campaign_deliveries SET status = %(status)s, reason = %(reason)s, sent_at = %(sent_at)s,
    updated_at = %(now)s
WHERE id = %(row)s AND status IN ('sending', 'queued')
"""
_DEFER = """
UPDATE campaign_deliveries SET status = 'queued', next_attempt_at = %(at)s, reason = %(reason)s,
    updated_at = %(now)s
WHERE id = %(row)s AND status = 'sending'
"""
_NAMED = re.compile(r"%\((\w+)\)s")


class LedgerWriter:
    """One batch run's ledger connection (autocommit; on PostgreSQL, commits wait for disk)."""

    def __init__(self, engine: Engine, campaign_id: int) -> None:
        self.campaign_id = campaign_id
        self.raw = engine.raw_connection()
        self.driver: Any = cast(Any, self.raw.driver_connection)
        self.pg = engine.dialect.name == "postgresql"
        if self.pg:
            self.driver.autocommit = True
            # Each "sending" must be on disk before its message is on the wire, whatever the
            # server's default: a crash of PostgreSQL must not forget it and send again.
            self.driver.execute("SET synchronous_commit = on")
        else:
            self.driver.isolation_level = None  # sqlite3: each statement commits

    def close(self) -> None:
        """Give the connection back to the pool as the pool lends it."""
        try:
            if self.pg:
                self.driver.execute("RESET synchronous_commit")
                self.driver.autocommit = False
            else:
                self.driver.isolation_level = ""
        finally:
            self.raw.close()

    def _run(self, sql: str, params: dict[str, Any]) -> Any:
        if self.pg:
            return self.driver.execute(sql, params, prepare=True)
        cursor = self.driver.cursor()
        return cursor.execute(_NAMED.sub(r":\1", sql), {k: _sqlite(v) for k, v in params.items()})

    def sending(self, row_id: int, previous: Outcome | None, now: datetime) -> bool:
        """Record `previous`'s outcome and that this row's message is leaving; False if the
        row was not queued (another run has it, or it was closed meanwhile)."""
        if previous is not None and self.pg:
            rows = self._run(
                _BOTH,
                {
                    "prev": previous.row_id,
                    "row": row_id,
                    **self._outcome_params(previous, now),
                },
            ).fetchall()
            return any(r[0] == row_id for r in rows)
        if previous is not None:
            self.outcome(previous, now)
        return bool(self._run(_SENDING, {"row": row_id, "now": now}).rowcount)

    def outcome(self, outcome: Outcome, now: datetime) -> None:
        """Record what happened to one message (or why it was not sent)."""
        self._run(_OUTCOME, {"row": outcome.row_id, **self._outcome_params(outcome, now)})

    def defer(self, row_id: int, at: datetime, reason: str, now: datetime) -> None:
        """Put a message whose send failed for now back in the queue, due at `at`."""
        self._run(_DEFER, {"row": row_id, "at": at, "reason": redact(reason), "now": now})

    @staticmethod
    def _outcome_params(outcome: Outcome, now: datetime) -> dict[str, Any]:
        return {
            "status": outcome.status.value,
            "reason": redact(outcome.reason) if outcome.reason else None,
            "sent_at": outcome.sent_at,
            "now": now,
        }


def _sqlite(value: Any) -> Any:
    # The format SQLAlchemy stores DateTime in on SQLite, so the rows read back alike.
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value
