"""Send one batch of a campaign: at most one copy to each contact, nobody skipped.

Two database connections work together. The *lock* connection holds, for one short round
(`ROUND_SECONDS`, at most `ROUND_SIZE` contacts), the contact rows it is about to mail:
`FOR NO KEY UPDATE`, the same lock an unsubscribe's update takes, so an unsubscribe that
arrives mid-round waits for the round and no message of that category leaves after it
returns. Eligibility is read by a second query once the locks are held: on PostgreSQL a
statement that waited for a row lock re-reads that row but not the other tables it joins, so
one query that both locked and judged would miss an unsubscribe committed while it waited.
Each statement reads afresh (READ COMMITTED), so the second sees every change that committed
before the lock was granted, and none can commit after it. The *ledger* connection
records progress, committing each row's `sending` before its message goes on the wire and
its outcome right after (in one statement with the next row's `sending`): a worker killed
mid-batch leaves at most the one message that was on the wire `sending`, which the next run
records as unknown instead of sending again. On SQLite (one writer, no row locks) the round's
query is the send-time check.

Speed comes from overlapping waits, never from loosening the order. A message's `sending`
commit starts as its envelope (MAIL, RCPT) goes out and must have finished before DATA; the
next message is built while the receiver takes in the current one.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from invites.accounts import eligibility
from invites.accounts.models import Contact
from invites.campaigns import attribution, ratelimit
from invites.campaigns.content import MessageBuilder
from invites.campaigns.ledger import LedgerWriter, Outcome
from invites.campaigns.lifecycle import pause_for_failures
from invites.campaigns.models import (
    BatchStatus,
    Campaign,
    CampaignBatch,
    CampaignDelivery,
    CampaignStatus,
    Delivery,
)
from invites.core import queue
from invites.core.db import db, utcnow
from invites.core.suppression import Reason, suppress
from mailer import Outgoing, PermanentError, TransientError, UnknownOutcome
from mailer.classify import classify_reply

log = logging.getLogger(__name__)

#: Contacts locked and mailed per round, and the longest a round holds their locks: what an
#: unsubscribe arriving mid-campaign waits for at most.
ROUND_SIZE = 100
ROUND_SECONDS = 0.5
#: How often the round looks at the campaign's status (pause, cancel) while sending.
STATUS_EVERY_SECONDS = 0.2
#: A run stops after this long and queues its batch again, so that no campaign (or slow
#: rate limit) holds a worker for long: other campaigns' batches get their turn.
RUN_SECONDS = 60.0

_LEDGER = CampaignDelivery.__table__
_BATCHES = CampaignBatch.__table__


@dataclass
class Tally:
    """What one run of a batch did, for the log and the job's result."""

    sent: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    suppressed: int = 0
    deferred: int = 0
    #: Batches this run finished (it takes its campaign's next one while time allows).
    batches: int = 0
    stopped: str | None = None
    sent_seconds: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, failed {self.failed}, unknown {self.unknown}, skipped "
            f"{self.skipped}, suppressed {self.suppressed}, deferred {self.deferred}; "
            f"{self.batches} batch(es) done"
            + (f"; stopped: {self.stopped}" if self.stopped else "")
        )


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


@contextmanager
def _ledger_connection() -> Iterator[Connection]:
    with db.engine.connect() as conn:
        if _is_pg(conn):
            # Each `sending` must be on disk before its message is on the wire, whatever the
            # server's default: a crash of PostgreSQL must not forget it and send again.
            conn.execute(text("SET synchronous_commit = on"))
            conn.commit()
        yield conn


def claim(conn: Connection, batch_id: int, token: str, now: datetime, lease: timedelta) -> bool:
    """Take a due batch that nobody runs (or whose runner's lease ran out)."""
    taken = conn.execute(
        update(_BATCHES)
        .where(
            _BATCHES.c.id == batch_id,
            _BATCHES.c.due_at <= now,
            or_(
                _BATCHES.c.status == BatchStatus.PENDING,
                and_(_BATCHES.c.status == BatchStatus.RUNNING, _BATCHES.c.leased_until < now),
            ),
        )
        .values(
            status=BatchStatus.RUNNING,
            lease_token=token,
            leased_until=now + lease,
        )
    ).rowcount
    conn.commit()
    return bool(taken)


def _close_interrupted(conn: Connection, batch_id: int, now: datetime) -> int:
    # We hold the batch, so a row still `sending` belongs to a run that died mid-send: its
    # message may have arrived. Unknown, never resent.
    closed = conn.execute(
        update(_LEDGER)
        .where(_LEDGER.c.batch_id == batch_id, _LEDGER.c.status == Delivery.SENDING)
        .values(
            status=Delivery.UNKNOWN,
            reason="interrupted during delivery; not resent",
            updated_at=now,
        )
    ).rowcount
    conn.commit()
    return int(closed)


def _leaves(row: Any) -> bool:
    """Whether the round's reading lets this row's message leave now."""
    return not (row.suppressed or row.unwanted or row.wrong_locale)


class BatchRun:
    """One job's run of one batch."""

    def __init__(self, app: Flask, batch_id: int, transport: Any) -> None:
        self.app = app
        self.settings = app.config["SETTINGS"]
        self.batch_id = batch_id
        self.transport = transport
        self.token = uuid.uuid4().hex
        #: Renewed every round; a run that stops renewing it has died.
        self.lease = timedelta(seconds=self.settings.campaign_lease_seconds)
        self.tally = Tally()
        self._status_checked = 0.0
        self._failures_seen = True  # until the first success has cleared any earlier run
        self._pending: Outcome | None = None
        #: Messages built ahead (while the receiver took in the one before), by ledger row;
        #: a build that failed keeps its exception, raised when the row's turn comes.
        self._built: dict[int, Outgoing | Exception] = {}

    # -- the run --------------------------------------------------------------------------

    def run(self) -> Tally:
        """Send every queued row of the batch that is due, round by round, and settle it; then
        the campaign's next due batch, while the run's time budget lasts."""
        with _ledger_connection() as ledger:
            now = utcnow()
            if not claim(ledger, self.batch_id, self.token, now, self.lease):
                self.tally.stopped = "not due, or another worker has it"
                return self.tally
            batch = ledger.execute(select(_BATCHES).where(_BATCHES.c.id == self.batch_id)).one()
            campaign = db.session.get(Campaign, batch.campaign_id)
            if campaign is None or campaign.status != CampaignStatus.SENDING:
                self._release(ledger, "campaign not sending")
                return self.tally
            self.tally.unknown += _close_interrupted(ledger, self.batch_id, now)
            self.campaign_id = campaign.id
            self.builder = MessageBuilder(self.app, campaign)
            self.limits = [
                lim
                for lim in (
                    ratelimit.relay_limit(self.app),
                    ratelimit.campaign_limit(campaign.id, campaign.rate_per_second),
                )
                if lim is not None
            ]
            self.category, self.locale = campaign.category, campaign.locale
            # Built once: a statement object keeps its cache key, so each round only binds.
            self._lock_stmt, self._rows_stmt = self._lock_due(), self._due_rows()
            self._status_stmt = select(Campaign.status).where(Campaign.id == campaign.id)
            self._renew_stmt = (
                update(_BATCHES)
                .where(_BATCHES.c.id == bindparam("batch"), _BATCHES.c.lease_token == self.token)
                .values(leased_until=bindparam("until"))
            )
            self.writer = LedgerWriter(db.engine, campaign.id)
            deadline = time.monotonic() + RUN_SECONDS
            settled = False
            try:
                while True:
                    while self._round(ledger):
                        if self.tally.stopped:
                            break
                        if time.monotonic() > deadline:
                            self.tally.stopped = "time budget"
                            break
                    if self.tally.stopped:
                        break
                    self._flush_outcome()
                    self._settle(ledger)
                    settled = True
                    self.tally.batches += 1
                    # Then the campaign's next due batch that nobody runs, while the time
                    # budget lasts: a forked job's setup (connections, the compiled content,
                    # the statements) is paid once per run instead of once per batch.
                    if time.monotonic() > deadline or not self._take_next(ledger):
                        break
                    settled = False
            finally:
                try:
                    self._flush_outcome()
                finally:
                    self.writer.close()
                    if not settled:
                        self._settle(ledger)
        return self.tally

    def _take_next(self, ledger: Connection) -> bool:
        """Claim another due, pending batch of this campaign; False if there is none."""
        now = utcnow()
        waiting = ledger.execute(
            select(_BATCHES.c.id)
            .where(
                _BATCHES.c.campaign_id == self.campaign_id,
                _BATCHES.c.status == BatchStatus.PENDING,
                _BATCHES.c.due_at <= now,
            )
            .order_by(_BATCHES.c.id)
            .limit(8)
        ).scalars()
        for batch_id in list(waiting):
            # The same conditional claim as a job's: if another worker took it first, the
            # next one; two runs never hold one batch.
            if claim(ledger, batch_id, self.token, now, self.lease):
                self.batch_id = batch_id
                self.tally.unknown += _close_interrupted(ledger, batch_id, now)
                return True
        ledger.rollback()
        return False

    def _round(self, ledger: Connection) -> bool:
        """Lock up to ROUND_SIZE due contacts, mail them; False once nothing is left."""
        started = time.monotonic()
        with db.engine.connect() as locks:
            now = utcnow()
            params = {"batch": self.batch_id, "now": now}
            ids = list(locks.execute(self._lock_stmt, params).scalars())
            if not ids:
                locks.rollback()
                return False
            rows = locks.execute(self._rows_stmt, {**params, "ids": ids}).all()
            leaving = [row for row in rows if _leaves(row)]
            after = dict(zip((row.ledger_id for row in leaving), leaving[1:], strict=False))
            for row in rows:
                if time.monotonic() - started > ROUND_SECONDS:
                    break  # let waiting unsubscribes through; the rest go next round
                if self._stopped(ledger):
                    break
                # Only a message about to leave takes a token: a contact found ineligible
                # now gets nothing, and must not slow the campaign down.
                leaves = _leaves(row)
                wait = ratelimit.take(self.app, self.limits) if leaves and self.limits else 0.0
                if wait:
                    # Wait outside the locks: end the round, sleep, then start a new one.
                    locks.rollback()
                    self._flush_outcome()
                    time.sleep(min(wait, 1.0))
                    return True
                self._one(ledger, row, after.get(row.ledger_id))
            locks.rollback()  # nothing was written on this connection: it only held locks
        self._built.clear()  # built from this round's reading of the rows: never reused
        self._flush_outcome()
        self._renew(ledger)
        ratelimit.count_sent(self.app, self.campaign_id, self.tally.sent_seconds)
        self.tally.sent_seconds = []
        return True

    def _due(self) -> Any:
        return and_(
            _LEDGER.c.batch_id == bindparam("batch"),
            _LEDGER.c.status == Delivery.QUEUED,
            _LEDGER.c.next_attempt_at <= bindparam("now"),
        )

    def _lock_due(self) -> Any:
        """Lock the contact rows of the round's due ledger rows; return their contact ids."""
        query = (
            select(_LEDGER.c.contact_id)
            .join(Contact, Contact.id == _LEDGER.c.contact_id)
            .where(self._due())
            .order_by(_LEDGER.c.contact_id)
            .limit(ROUND_SIZE)
        )
        # NO KEY UPDATE: the lock an unsubscribe's UPDATE of the contact row needs, while the
        # ledger's inserts and updates (key-share locks through its foreign key) still pass.
        return query.with_for_update(of=Contact, key_share=True)

    def _due_rows(self) -> Any:
        """The locked contacts (`ids`) with what decides, now, whether each may get this
        campaign."""
        settings = self.settings
        suppressed, unwanted = (
            eligibility.suppressed_for_marketing(),
            not_(eligibility.wants(self.category, settings)),
        )
        wrong_locale = (Contact.locale != self.locale) if self.locale else literal(False)
        return (
            select(
                _LEDGER.c.id.label("ledger_id"),
                _LEDGER.c.contact_id,
                _LEDGER.c.attempts,
                Contact.email,
                Contact.name,
                Contact.locale,
                Contact.public_id,
                Contact.email_hash,
                suppressed.label("suppressed"),
                unwanted.label("unwanted"),
                wrong_locale.label("wrong_locale"),
            )
            .join(Contact, Contact.id == _LEDGER.c.contact_id)
            .where(self._due(), _LEDGER.c.contact_id.in_(bindparam("ids", expanding=True)))
            .order_by(_LEDGER.c.contact_id)
        )

    def _one(self, ledger: Connection, row: Any, upcoming: Any | None) -> None:
        now = utcnow()
        if row.suppressed:
            self._close(Outcome(row.ledger_id, Delivery.SUPPRESSED, "address is suppressed"))
            self.tally.suppressed += 1
            return
        if row.unwanted or row.wrong_locale:
            reason = "contact no longer receives this category"
            self._close(Outcome(row.ledger_id, Delivery.SKIPPED, reason))
            self.tally.skipped += 1
            return
        message = self._message(row)
        # The outcome of the previous message and this one's `sending` in one commit, which
        # runs while the envelope goes out; the transport waits for it before DATA.
        previous, self._pending = self._pending, None
        ledgered = self.writer.sending_soon(row.ledger_id, previous, now)
        try:
            sent = self.transport.send(
                message,
                ready=ledgered.result,
                meanwhile=(lambda: self._build_ahead(upcoming)) if upcoming else None,
            )
        except TransientError as exc:
            if ledgered.result():  # refused before DATA: only a row of ours has a record
                self._transient(row, exc)
        except PermanentError as exc:
            if ledgered.result():
                self._permanent(ledger, row, exc)
        except UnknownOutcome as exc:
            self._pending = Outcome(row.ledger_id, Delivery.UNKNOWN, str(exc))
            self.tally.unknown += 1
            self._consecutive_failure()
        else:
            if not sent:
                return  # someone else's, or already closed: withdrawn before DATA
            self._pending = Outcome(row.ledger_id, Delivery.SENT, sent_at=utcnow())
            self.tally.sent += 1
            self.tally.sent_seconds.append(int(time.time()))
            self._consecutive_success()
        finally:
            # Whatever happened, the write has finished before the next one is made.
            ledgered.wait()

    def _message(self, row: Any) -> Outgoing:
        built = self._built.pop(row.ledger_id, None)
        if built is None:
            return self.builder.build(row)
        if isinstance(built, Exception):
            raise built
        return built

    def _build_ahead(self, row: Any) -> None:
        # Runs inside the transport while the receiver works: it must not raise there.
        try:
            self._built[row.ledger_id] = self.builder.build(row)
        except Exception as exc:
            self._built[row.ledger_id] = exc

    # -- ledger writes ----------------------------------------------------------------------

    def _close(self, outcome: Outcome) -> None:
        self._flush_outcome()
        self.writer.outcome(outcome, utcnow())

    def _flush_outcome(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.writer.outcome(pending, utcnow())

    def _transient(self, row: Any, exc: TransientError) -> None:
        self._consecutive_failure()
        attempts = row.attempts + 1
        if attempts >= self.settings.max_send_attempts:
            reason = f"gave up after {attempts} attempts: {exc}"
            self._pending = Outcome(row.ledger_id, Delivery.FAILED, reason)
            self.tally.failed += 1
            return
        delay = timedelta(seconds=self.settings.retry_base_seconds * 2 ** (attempts - 1))
        self.writer.defer(row.ledger_id, utcnow() + delay, str(exc), utcnow())
        self.tally.deferred += 1

    def _permanent(self, ledger: Connection, row: Any, exc: PermanentError) -> None:
        self._consecutive_failure()
        verdict = classify_reply(exc.code, exc.message)
        self._close(Outcome(row.ledger_id, Delivery.FAILED, str(exc)))
        self.tally.failed += 1
        if verdict.dead_address:
            # Only "this address does not exist" suppresses; the bounce is this campaign's.
            with Session(bind=ledger) as session:
                suppress(session, row.email_hash, Reason.HARD_BOUNCE, utcnow())
                attribution.attribute(session, self.campaign_id, "bounced")
                session.commit()
            ledger.commit()

    # -- campaign state -----------------------------------------------------------------------

    def _stopped(self, ledger: Connection) -> bool:
        now = time.monotonic()
        if now - self._status_checked < STATUS_EVERY_SECONDS:
            return bool(self.tally.stopped)
        self._status_checked = now
        status = ledger.execute(self._status_stmt).scalar_one_or_none()
        ledger.rollback()
        if status != CampaignStatus.SENDING:
            self.tally.stopped = f"campaign {status or 'deleted'}"
        return bool(self.tally.stopped)

    def _failures_key(self) -> str:
        return f"spotcam:campaign:{self.campaign_id}:failures"

    def _consecutive_failure(self) -> None:
        # Counted in Redis, so failures on every worker add up to one run of them.
        conn = queue.connection(self.app)
        with conn.pipeline(transaction=False) as pipe:
            pipe.incr(self._failures_key())
            pipe.expire(self._failures_key(), 3600)
            failures = int(pipe.execute()[0])
        self._failures_seen = True
        limit = self.settings.campaign_max_consecutive_failures
        if failures >= limit:
            pause_for_failures(self.campaign_id, failures)
            self.tally.stopped = f"{failures} consecutive failures"

    def _consecutive_success(self) -> None:
        # Any success ends the run of failures. A Redis call only when a run may be going on:
        # one this worker saw, or one the round found when it started.
        if self._failures_seen:
            queue.connection(self.app).delete(self._failures_key())
            self._failures_seen = False

    def _renew(self, ledger: Connection) -> None:
        ledger.execute(self._renew_stmt, {"batch": self.batch_id, "until": utcnow() + self.lease})
        ledger.commit()

    def _release(self, ledger: Connection, why: str) -> None:
        self.tally.stopped = why
        ledger.execute(
            update(_BATCHES)
            .where(_BATCHES.c.id == self.batch_id, _BATCHES.c.lease_token == self.token)
            .values(status=BatchStatus.PENDING, lease_token=None, leased_until=None)
        )
        ledger.commit()

    def _settle(self, ledger: Connection) -> None:
        """Done when no row waits; else pending again, due when its next retry is."""
        waiting = ledger.execute(
            select(func.count(), func.min(_LEDGER.c.next_attempt_at)).where(
                _LEDGER.c.batch_id == self.batch_id, _LEDGER.c.status == Delivery.QUEUED
            )
        ).one()
        values: dict[str, Any] = {"lease_token": None, "leased_until": None}
        if waiting[0]:
            values.update(status=BatchStatus.PENDING, due_at=waiting[1], enqueued_at=None)
        else:
            values.update(status=BatchStatus.DONE, finished_at=utcnow())
        ledger.execute(
            update(_BATCHES)
            .where(_BATCHES.c.id == self.batch_id, _BATCHES.c.lease_token == self.token)
            .values(**values)
        )
        ledger.commit()
