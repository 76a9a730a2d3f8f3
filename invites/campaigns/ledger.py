"""The ledger writes a batch makes for every message: prepared statements on a raw connection.

Two statements per message at most, each committed: "this one is on its way" before the
message leaves, and what happened to the one before, folded into the same statement.

On PostgreSQL they go to libpq directly (psycopg's `pq` layer) as named prepared statements,
in text format: the driver's execute machinery cost more CPU per message than building and
sending the email, and libpq lets a write be *sent* now and its result *collected* later.
`sending_soon` sends the "on its way" commit as the SMTP envelope goes out; the sender
collects it (the commit is on disk) before the content leaves. One connection, one write in
flight at a time: the ledger still changes one step at a time and in order.
"""

from __future__ import annotations

import re
import select
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import psycopg
from psycopg import pq
from sqlalchemy import Engine

from invites.campaigns.models import Delivery
from invites.core import metrics
from invites.delivery import rules
from mailer import redact


@dataclass(frozen=True)
class Outcome:
    """What happened to one contact's message, still to be written."""

    #: The ledger row's id (its primary key).
    row_id: int
    #: QUEUED (with `retry_at`): refused for now, to be tried again then.
    status: Delivery
    reason: str | None = None
    sent_at: datetime | None = None
    retry_at: datetime | None = None


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
# A `sending` mark made ahead for a message that then did not leave (the run stopped first).
_UNSEND = """
UPDATE campaign_deliveries SET status = 'queued', attempts = attempts - 1, updated_at = %(now)s
WHERE id = %(row)s AND status = 'sending'
"""
_DEFER = """
UPDATE campaign_deliveries SET status = 'queued', next_attempt_at = %(at)s, reason = %(reason)s,
    updated_at = %(now)s
WHERE id = %(row)s AND status = 'sending'
"""
_NAMED = re.compile(r"%\((\w+)\)s")
#: Each parameter's type on PostgreSQL (text-format parameters carry none of their own).
_TYPES = {
    "prev": "integer",
    "row": "integer",
    "status": "text",
    "reason": "text",
    "sent_at": "timestamp",
    "at": "timestamp",
    "now": "timestamp",
}
_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)


class Pending:
    """A `sending` write that has been sent; `result()` waits for its commit."""

    def __init__(self, collect: Any) -> None:
        self._collect = collect
        self._done = False
        self._value = False
        self._error: BaseException | None = None

    def result(self) -> bool:
        """True once the row is recorded as sending; False if it was not ours to send."""
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value

    def wait(self) -> None:
        """Let the write finish, however it ends (its error is raised by `result`)."""
        if self._done:
            return
        self._done = True
        try:
            self._value = bool(self._collect())
        except Exception as exc:  # kept for result(); the run stops there
            self._error = exc


class _Statement:
    """One statement, prepared on PostgreSQL under a name of this writer's own."""

    def __init__(self, sql: str, tag: str) -> None:
        self.names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.names:
                self.names.append(name)
            return f"${self.names.index(name) + 1}::{_TYPES[name]}"

        self.pg_sql = _NAMED.sub(number, sql)
        self.sqlite_sql = _NAMED.sub(r":\1", sql)
        self.name = f"spotcam_ledger_{tag}_{uuid.uuid4().hex[:12]}"

    def params(self, values: dict[str, Any]) -> list[bytes | None]:
        """The values in text format, in the order of their numbers."""
        return [_text(values[name]) for name in self.names]


class LedgerWriter:
    """One batch run's ledger connection (autocommit; on PostgreSQL, commits wait for disk)."""

    def __init__(self, engine: Engine) -> None:
        self.raw = engine.raw_connection()
        self.driver: Any = cast(Any, self.raw.driver_connection)
        self.pg = engine.dialect.name == "postgresql"
        self.both, self.sending_only, self.closing, self.deferring, self.unsending = (
            _Statement(_BOTH, "both"),
            _Statement(_SENDING, "sending"),
            _Statement(_OUTCOME, "outcome"),
            _Statement(_DEFER, "defer"),
            _Statement(_UNSEND, "unsend"),
        )
        self._statements = (
            self.both,
            self.sending_only,
            self.closing,
            self.deferring,
            self.unsending,
        )
        #: The write sent and not yet collected: the next one collects it first.
        self._in_flight: Pending | None = None
        if self.pg:
            self.driver.autocommit = True
            # Each "sending" must be on disk before its message is on the wire.
            rules.durable(self.driver)
            for statement in self._statements:
                self.driver.execute(f"PREPARE {statement.name} AS {statement.pg_sql}")
            self.pgconn: pq.abc.PGconn = self.driver.pgconn
        else:
            self.driver.isolation_level = None  # sqlite3: each statement commits

    def close(self) -> None:
        """Give the connection back to the pool as the pool lends it."""
        try:
            if self.pg:
                for statement in self._statements:
                    self.driver.execute(f"DEALLOCATE {statement.name}")
                self.driver.execute("RESET synchronous_commit")
                self.driver.autocommit = False
            else:
                self.driver.isolation_level = ""
        finally:
            self.raw.close()

    # -- PostgreSQL: send now, collect later ----------------------------------------------

    def _send(self, statement: _Statement, values: dict[str, Any]) -> None:
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            in_flight.wait()  # its outcome stays with it, for whoever holds it
        pg = self.pgconn
        pg.send_query_prepared(statement.name.encode(), statement.params(values))
        while pg.flush():  # psycopg's connections are non-blocking: write it all out
            select.select([], [pg.socket], [])

    def _collect(self) -> pq.abc.PGresult:
        pg, last = self.pgconn, None
        while True:
            while pg.is_busy():
                select.select([pg.socket], [], [])
                pg.consume_input()
            result = pg.get_result()
            if result is None:
                break
            last = result
        if last is None:
            raise psycopg.OperationalError("the server sent no result for a ledger write")
        if last.status not in _OK:
            raise _error(last)
        return last

    def _run(self, statement: _Statement, values: dict[str, Any]) -> int:
        """Run one statement now; return the rows it changed."""
        if self.pg:
            self._send(statement, values)
            return int(self._collect().command_tuples or 0)
        cursor = self.driver.cursor()
        params = {k: _sqlite(v) for k, v in values.items()}
        return int(cursor.execute(statement.sqlite_sql, params).rowcount)

    # -- the writes ---------------------------------------------------------------------------

    def sending_soon(self, row_id: int, previous: Outcome | None, now: datetime) -> Pending:
        """Record `previous`'s outcome and that this row's message is leaving: sent now, its
        result collected by the caller before the message leaves and before the next write.
        The result is False if the row was not queued (another run has it, or it was closed
        meanwhile)."""
        if not self.pg:
            done = self.sending(row_id, previous, now)
            return Pending(lambda: done)
        if previous is not None and previous.retry_at is not None:
            self.outcome(previous, now)  # a deferral has a statement of its own
            previous = None
        if previous is None:
            self._send(self.sending_only, {"row": row_id, "now": now})
            self._in_flight = Pending(lambda: self._collect().command_tuples)
            return self._in_flight
        values = {"prev": previous.row_id, "row": row_id, **_values(previous, now)}
        self._send(self.both, values)
        metrics.outcome("campaign", previous.status)  # counted once the write is on its way

        def ours() -> bool:
            result = self._collect()
            wanted = str(row_id).encode()
            return any(result.get_value(i, 0) == wanted for i in range(result.ntuples))

        self._in_flight = Pending(ours)
        return self._in_flight

    def sending(self, row_id: int, previous: Outcome | None, now: datetime) -> bool:
        """`sending_soon`, waited for."""
        if self.pg:
            return self.sending_soon(row_id, previous, now).result()
        if previous is not None:
            self.outcome(previous, now)
        return bool(self._run(self.sending_only, {"row": row_id, "now": now}))

    def outcome(self, outcome: Outcome, now: datetime) -> None:
        """Record what happened to one message (or why it was not sent)."""
        if outcome.retry_at is not None:
            self.defer(outcome.row_id, outcome.retry_at, outcome.reason or "", now)
            return
        metrics.outcome("campaign", outcome.status)
        self._run(self.closing, {"row": outcome.row_id, **_values(outcome, now)})

    def unsend(self, row_id: int, now: datetime) -> bool:
        """Put a row marked `sending` ahead of its message back in the queue: the message
        did not leave. True if the row was ours to put back."""
        return bool(self._run(self.unsending, {"row": row_id, "now": now}))

    def defer(self, row_id: int, at: datetime, reason: str, now: datetime) -> None:
        """Put a message whose send failed for now back in the queue, due at `at`."""
        values = {"row": row_id, "at": at, "reason": redact(reason), "now": now}
        self._run(self.deferring, values)


def _values(outcome: Outcome, now: datetime) -> dict[str, Any]:
    """An outcome's parameters (its reason redacted: no address is ever stored in one)."""
    return {
        "status": outcome.status.value,
        "reason": redact(outcome.reason) if outcome.reason else None,
        "sent_at": outcome.sent_at,
        "now": now,
    }


def _error(result: pq.abc.PGresult) -> psycopg.Error:
    """The driver's own exception for a failed statement (by SQLSTATE, as psycopg raises)."""
    message = (result.error_message or b"ledger write failed").decode("utf-8", "replace")
    state = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
    try:
        cls = psycopg.errors.lookup(state) if state else psycopg.OperationalError
    except KeyError:
        cls = psycopg.DatabaseError
    return cast(psycopg.Error, cls(message.strip()))


def _text(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text format (naive datetimes are UTC, as stored)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ").encode()
    return str(value).encode()


def _sqlite(value: Any) -> Any:
    # The format SQLAlchemy stores DateTime in on SQLite, so the rows read back alike.
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value
