"""Send one batch of a campaign: at most one copy to each contact, nobody skipped.

A run goes round by round (invites.campaigns.rounds: lock up to ROUND_SIZE contacts, read
whether each may get mail now, mail them), then settles the batch and takes its campaign's
next due one while its time budget lasts. It holds two database connections for its whole
life and a third for each round:

- the *control* connection: the lease (invites.campaigns.leases), the campaign's status every
  STATUS_EVERY_SECONDS, a dead address's suppression; each statement committed at once;
- the *ledger writer*'s (invites.campaigns.ledger): each row's `sending` is committed, and on
  disk (rules.DURABLE), before its message goes on the wire, and its outcome right after (in
  one statement with the next row's `sending`). Its writes are sent while the SMTP envelope
  goes out and collected before DATA, so no other statement may share it;
- the *round's* own, holding the contact rows' locks for the round only (rolled back).

A worker killed mid-batch leaves at most one row `sending` (the message on the wire, or the
next one, marked and not yet sent), which the next run records as unknown instead of sending
again. Speed comes from overlapping waits, never from loosening the order: the next message
is built while the receiver takes in the current one and, where the relay offers PIPELINING,
announced (its envelope written behind the current content, its `sending` mark committed
with the current outcome as soon as that is known); a message built ahead is only ever sent
in the round that read its row, and every way out of a round drops what was built ahead,
withdraws an announced envelope (taking its mark back), writes the last outcome and renews
the lease.

A message that can't be built for one contact (the template fails for their values) records
that contact failed, reason `render_failed`, and the run goes on; if more than
CAMPAIGN_MAX_RENDER_FAILURE_PERCENT of one round's messages fail so, the campaign pauses
itself and says why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from flask import Flask
from redis import RedisError
from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from invites.campaigns import attribution, ratelimit
from invites.campaigns.content import MessageBuilder
from invites.campaigns.leases import Lease
from invites.campaigns.ledger import LedgerWriter, Outcome, Pending
from invites.campaigns.lifecycle import pause_for_failures
from invites.campaigns.models import Campaign, CampaignStatus, Delivery
from invites.campaigns.rounds import ROUND_SECONDS, RoundQueries, leaves
from invites.core import queue
from invites.core.db import db, utcnow
from invites.delivery import rules
from mailer import Outgoing, PermanentError, TransientError, UnknownOutcome, redact
from mailer.compiled import RenderFailed

log = logging.getLogger(__name__)

#: How often the round looks at the campaign's status (pause, cancel) while sending.
STATUS_EVERY_SECONDS = 0.2
#: A run stops after this long and queues its batch again, so that no campaign (or slow
#: rate limit) holds a worker for long: other campaigns' batches get their turn.
RUN_SECONDS = 60.0
#: The reason a contact's message could not be built starts with this.
RENDER_FAILED = "render_failed"
#: The share of render failures is judged at the end of a round over at least this many
#: messages (a short round, cut by ROUND_SECONDS or a rate limit, is judged with the next):
#: a last round of two contacts, one of them failing, says nothing about the template.
RENDER_JUDGED_FROM = 10


class Stop(StrEnum):
    """Why a run ended before its campaign's due batches were all sent."""

    NOT_CLAIMED = "not due, or another worker has it"
    NOT_SENDING = "campaign not sending"
    #: Paused, cancelled or deleted while the run sent.
    CAMPAIGN_CHANGED = "campaign changed"
    FAILURES = "consecutive failures"
    RENDER_FAILURES = "render failures"
    #: RUN_SECONDS passed: the job queues its batch again, behind other campaigns'.
    TIME_BUDGET = "time budget"


@dataclass
class Tally:
    """What one run of a batch did, for the log and the job's result."""

    sent: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    suppressed: int = 0
    deferred: int = 0
    #: Of `failed`: messages that could not be built for their contact.
    render_failed: int = 0
    #: Batches this run finished (it takes its campaign's next one while time allows).
    batches: int = 0
    stopped: Stop | None = None
    #: What `stopped` says in words (the campaign's status, how many failures).
    why: str = ""
    sent_seconds: list[int] = field(default_factory=list)

    def count(self, status: str, n: int = 1) -> None:
        """Count `n` outcomes of one status (QUEUED: deferred to a later attempt)."""
        name = "deferred" if status == Delivery.QUEUED else str(status)
        setattr(self, name, getattr(self, name) + n)

    def stop(self, reason: Stop, why: str = "") -> None:
        """End the run for `reason` (the first one given stands)."""
        if self.stopped is None:
            self.stopped, self.why = reason, why or reason.value

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, failed {self.failed} ({self.render_failed} render_failed), "
            f"unknown {self.unknown}, skipped {self.skipped}, suppressed {self.suppressed}, "
            f"deferred {self.deferred}; {self.batches} batch(es) done"
            + (f"; stopped: {self.why}" if self.stopped else "")
        )


class BatchRun:
    """One job's run of one batch (and of its campaign's next ones, while time allows)."""

    def __init__(
        self,
        app: Flask,
        batch_id: int,
        transport: Any,
        plan_more: Callable[[int], int] | None = None,
    ) -> None:
        self.app = app
        #: Plans the campaign's next slice when the run finds no batch left (jobs.plan_slice);
        #: returns how many batches it made.
        self.plan_more = plan_more
        self.settings = app.config["SETTINGS"]
        self.batch_id = batch_id
        self.transport = transport
        #: Renewed every round; a run that stops renewing it has died.
        self.lease = Lease(self.settings.campaign_lease_seconds)
        self.tally = Tally()
        self._status_checked = 0.0
        self._failures_seen = True  # until the first success has cleared any earlier run
        self._pending: Outcome | None = None
        #: Messages built ahead (while the receiver took in the one before), by ledger row;
        #: a build that failed keeps its exception, raised when the row's turn comes.
        self._built: dict[int, Outgoing | Exception] = {}
        #: The ledger row whose message was built ahead and handed to the transport to be
        #: announced (under a rate limit, with its token already taken).
        self._announced: int | None = None
        #: That row's `sending` mark, sent with the outcome before it (see `_one`).
        self._ahead: tuple[int, Pending] | None = None
        self._round_started = 0.0
        #: Messages built since the share of render failures was last judged, and how many of
        #: them failed to render.
        self._round_built = 0
        self._round_render_failed = 0
        self._render_example = ""
        self._settled = False

    # -- the run --------------------------------------------------------------------------

    def run(self) -> Tally:
        """Send every queued row of the batch that is due, round by round, and settle it; then
        the campaign's next due batch, while the run's time budget lasts."""
        with db.engine.connect() as control:
            if control.dialect.name == "postgresql":
                rules.durable(control)
                control.commit()
            now = utcnow()
            if not self.lease.claim(control, self.batch_id, now):
                self.tally.stop(Stop.NOT_CLAIMED)
                return self.tally
            campaign = db.session.get(Campaign, self.lease.campaign_of(control))
            if campaign is None or campaign.status != CampaignStatus.SENDING:
                self.lease.release(control)
                self.tally.stop(Stop.NOT_SENDING)
                return self.tally
            self.tally.count(Delivery.UNKNOWN, self.lease.close_interrupted(control, now))
            try:
                self._prepare(campaign)
                # Nothing more is read through the ORM session: end its transaction (keeping
                # the loaded objects), so the run holds no snapshot for its minute. One held
                # kept PostgreSQL from pruning the dead versions of the progress-counter rows
                # the ledger's triggers update: a slowdown that grew with the campaign's size.
                db.session.expunge_all()
                db.session.rollback()
                self.writer = LedgerWriter(db.engine)
                try:
                    self._send_batches(control)
                finally:
                    try:
                        self._flush_outcome()
                    finally:
                        self.writer.close()
            finally:
                if not self._settled:
                    self.lease.settle(control)
        return self.tally

    def _planned_more(self) -> bool:
        """Whether planning one more slice (if any is left) made a batch."""
        assert self.plan_more is not None
        return self.plan_more(self.campaign_id) > 0

    def _prepare(self, campaign: Campaign) -> None:
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
        self.queries = RoundQueries(
            self.settings, campaign.category, campaign.locale, campaign.segment
        )
        self._status_stmt = select(Campaign.status).where(Campaign.id == campaign.id)
        self._grace = timedelta(seconds=self.settings.campaign_late_grace_seconds)

    def _send_batches(self, control: Connection) -> None:
        deadline = time.monotonic() + RUN_SECONDS
        while True:
            while self._round(control):
                if self.tally.stopped:
                    return
                if time.monotonic() > deadline:
                    self.tally.stop(Stop.TIME_BUDGET)
                    return
            if self.tally.stopped:
                return
            self._flush_outcome()
            self.lease.settle(control)
            self._settled = True
            self.tally.batches += 1
            # Then the campaign's next due batch that nobody runs, while the time budget
            # lasts: a forked job's setup (connections, the compiled content, the
            # statements) is paid once per run instead of once per batch.
            if time.monotonic() > deadline:
                return
            now = utcnow()
            if not self.lease.take_next(control, self.campaign_id, now, self._grace):
                # Out of planned batches: plan the next slice here and go on, rather than
                # end and leave a lone worker a job switch at every batch boundary.
                if self.plan_more is None or not self._planned_more():
                    return
                now = utcnow()
                if not self.lease.take_next(control, self.campaign_id, now, self._grace):
                    return
            self.batch_id = self.lease.batch_id or self.batch_id
            self._settled = False
            # A new batch's first round looks at the campaign's state before its first message.
            self._status_checked = 0.0
            self.tally.count(Delivery.UNKNOWN, self.lease.close_interrupted(control, now))

    def _round(self, control: Connection) -> bool:
        """Lock up to ROUND_SIZE due contacts and mail them; False once nothing is left.

        However the round ends (done, out of time, a rate limit's wait, the campaign
        stopped), what was built ahead from its reading of the rows is dropped, the last
        outcome is written and the lease renewed before anything else happens.
        """
        started = self._round_started = time.monotonic()
        wait = 0.0
        with db.engine.connect() as locks:
            now = utcnow()
            ids = self.queries.lock(locks, self.batch_id, now)
            if not ids:
                locks.rollback()
                return False
            try:
                rows = self.queries.rows(locks, self.batch_id, now, ids)
                leaving = [row for row in rows if leaves(row)]
                after = dict(zip((r.ledger_id for r in leaving), leaving[1:], strict=False))
                for row in rows:
                    # Once the next message is announced the round goes on to it (ending
                    # here would close the session under it); none is announced once the
                    # round's time is up, so that costs it one message at most.
                    ahead = self._announced
                    if ahead is None and time.monotonic() - started > ROUND_SECONDS:
                        break  # let waiting unsubscribes through; the rest go next round
                    if self._stopped(control):
                        break
                    # Only a message about to leave takes a token (an announced one took its
                    # own): a contact found ineligible now gets nothing, and must not slow
                    # the campaign down.
                    if self.limits and leaves(row) and ahead != row.ledger_id:
                        wait = ratelimit.take(self.app, self.limits)
                        if wait:
                            break  # wait outside the locks, in the next round
                    if ahead == row.ledger_id:
                        self._announced = None
                    self._one(control, row, after.get(row.ledger_id))
            finally:
                locks.rollback()  # nothing was written on this connection: it only held locks
                # Built from this round's reading of the rows: never sent in another round,
                # nor is the envelope announced for one of them.
                self._built.clear()
                self.transport.withdraw()
                self._announced = None
                marked, self._ahead = self._ahead, None
                self._unsend(marked)
        self._flush_outcome()
        self.lease.renew(control)
        self._count_sent()
        self._judge_renders()
        if wait and not self.tally.stopped:
            time.sleep(min(wait, 1.0, self.lease.length.total_seconds() / 4))
        return True

    def _one(self, control: Connection, row: Any, upcoming: Any | None) -> None:
        now = utcnow()
        if row.suppressed:
            self._record(Outcome(row.ledger_id, Delivery.SUPPRESSED, "address is suppressed"))
            return
        if row.unwanted or row.wrong_locale:
            reason = "contact no longer receives this category"
            self._record(Outcome(row.ledger_id, Delivery.SKIPPED, reason))
            return
        self._round_built += 1
        try:
            message = self._message(row)
        except (RenderFailed, ValueError) as exc:
            self._render_failed(row, exc)
            return
        # The outcome of the previous message and this one's `sending` in one commit, which
        # runs while the envelope goes out; the transport waits for it before the content.
        # An announced message's commit was sent already, as soon as that outcome was known.
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == row.ledger_id:
            ledgered = ahead[1]
        else:
            self._unsend(ahead)
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
                self._permanent(control, row, exc)
        except UnknownOutcome as exc:
            self._record(Outcome(row.ledger_id, Delivery.UNKNOWN, str(exc)), with_next=True)
            self._consecutive_failure()
        else:
            if not sent:
                return  # someone else's, or already closed: withdrawn before DATA
            outcome = Outcome(row.ledger_id, Delivery.SENT, sent_at=utcnow())
            if upcoming is not None and self._announced == upcoming.ledger_id:
                # The next message is announced: its `sending` mark goes now, in one commit
                # with this outcome, while the rest of the bookkeeping runs. Should the run
                # stop before that message leaves, the mark is taken back (`_unsend`).
                self.tally.count(outcome.status)
                mark = self.writer.sending_soon(upcoming.ledger_id, outcome, utcnow())
                self._ahead = (upcoming.ledger_id, mark)
            else:
                self._record(outcome, with_next=True)
            self.tally.sent_seconds.append(int(time.time()))
            self._consecutive_success()
        finally:
            # Whatever happened, the write has finished before the next one is made.
            ledgered.wait()

    def _unsend(self, ahead: tuple[int, Pending] | None) -> None:
        """A `sending` mark made ahead for a message that did not leave goes back to
        `queued` (a worker that dies first leaves it for the next run to record unknown,
        the one row a crash may leave so)."""
        if ahead is None:
            return
        row_id, mark = ahead
        try:
            if mark.result():
                self.writer.unsend(row_id, utcnow())
        except Exception:
            log.exception("campaign %s row %s: mark not taken back", self.campaign_id, row_id)

    def _message(self, row: Any) -> Outgoing:
        built = self._built.pop(row.ledger_id, None)
        if built is None:
            return self.builder.build(row)
        if isinstance(built, Exception):
            raise built
        return built

    def _build_ahead(self, row: Any) -> Outgoing | None:
        """Build the next message while the receiver takes in this one; return it to be
        announced (its envelope written behind this content) if it may leave once its turn
        comes: it was built, and its rate-limit token is taken now (one taken for a message
        that a stop then keeps back is a token lost, never a message sent twice)."""
        # Runs inside the transport while the receiver works: it must not raise there.
        try:
            message = self.builder.build(row)
        except Exception as exc:
            self._built[row.ledger_id] = exc
            return None
        self._built[row.ledger_id] = message
        if time.monotonic() - self._round_started > ROUND_SECONDS:
            return None  # the round ends before its turn: nothing to announce
        if self.limits:
            try:
                if ratelimit.take(self.app, self.limits):
                    return None  # no token now: its turn takes one, or waits
            except Exception:
                log.exception("campaign %s: rate limit not read ahead", self.campaign_id)
                return None
        self._announced = row.ledger_id
        return message

    def _render_failed(self, row: Any, exc: Exception) -> None:
        """The template failed for this contact's values: failed, `render_failed`; the run
        goes on (retry sends it again once the content is fixed)."""
        what = redact(f"{type(exc).__name__}: {exc}" if isinstance(exc, ValueError) else str(exc))
        self._round_render_failed += 1
        self._render_example = self._render_example or what
        self.tally.render_failed += 1
        self._record(Outcome(row.ledger_id, Delivery.FAILED, f"{RENDER_FAILED}: {what}"))
        log.warning(
            "campaign %s ledger row %s: render failed: %s", self.campaign_id, row.ledger_id, what
        )

    def _judge_renders(self) -> None:
        """Pause the campaign if more than the set share of this round's messages failed to
        render: a template broken for many is for a person to fix, not to record one by one."""
        built, failed = self._round_built, self._round_render_failed
        if built < RENDER_JUDGED_FROM:
            return
        self._round_built = self._round_render_failed = 0
        if not failed:
            return
        if failed * 100 <= built * self.settings.campaign_max_render_failure_percent:
            return
        reason = (
            f"paused itself: {failed} of {built} messages in one round could not be rendered "
            f"({self._render_example}); fix the content, resume, and retry the failed ones "
            "once it is done"
        )
        _pause_itself(self.campaign_id, reason)
        self.tally.stop(Stop.RENDER_FAILURES, f"{failed} of {built} failed to render")

    # -- outcomes -------------------------------------------------------------------------

    def _record(self, outcome: Outcome, *, with_next: bool = False) -> None:
        """Every outcome of a message passes here: counted, then written now, or (`with_next`)
        in one commit with the next message's `sending`."""
        self.tally.count(outcome.status)
        if with_next:
            self._pending = outcome
            return
        self._flush_outcome()
        self.writer.outcome(outcome, utcnow())

    def _flush_outcome(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.writer.outcome(pending, utcnow())

    def _transient(self, row: Any, exc: TransientError) -> None:
        self._consecutive_failure()
        then = rules.after_transient(row.attempts + 1, exc, self.settings, utcnow())
        if isinstance(then, rules.GiveUp):
            self._record(Outcome(row.ledger_id, Delivery.FAILED, then.reason), with_next=True)
            return
        self._record(Outcome(row.ledger_id, Delivery.QUEUED, then.reason, retry_at=then.at))

    def _permanent(self, control: Connection, row: Any, exc: PermanentError) -> None:
        self._consecutive_failure()
        verdict = rules.after_permanent(exc)
        self._record(Outcome(row.ledger_id, Delivery.FAILED, str(exc)))
        # The bounce is this campaign's when it suppressed a dead address.
        with Session(bind=control) as session:
            if rules.suppress_dead(session, row.email_hash, verdict, utcnow()):
                attribution.attribute(session, self.campaign_id, "bounced")
                session.commit()
        control.commit()

    # -- campaign state -------------------------------------------------------------------

    def _stopped(self, control: Connection) -> bool:
        now = time.monotonic()
        if now - self._status_checked < STATUS_EVERY_SECONDS:
            return bool(self.tally.stopped)
        self._status_checked = now
        status = control.execute(self._status_stmt).scalar_one_or_none()
        control.rollback()
        if status != CampaignStatus.SENDING:
            self.tally.stop(Stop.CAMPAIGN_CHANGED, f"campaign {status or 'deleted'}")
        return bool(self.tally.stopped)

    def _count_sent(self) -> None:
        try:
            ratelimit.count_sent(self.app, self.campaign_id, self.tally.sent_seconds)
        except RedisError as exc:
            # Only the page's one-minute rate misses these; sending must not stop for it.
            log.warning("campaign %s: sends not counted for the rate: %s", self.campaign_id, exc)
        self.tally.sent_seconds = []

    def _failures_key(self) -> str:
        return f"spotcam:campaign:{self.campaign_id}:failures"

    def _consecutive_failure(self) -> None:
        # Counted in Redis, so failures on every worker add up to one run of them. While
        # Redis is away the run is not counted (each failure is still recorded in the ledger).
        conn = queue.connection(self.app)
        self._failures_seen = True
        try:
            with conn.pipeline(transaction=False) as pipe:
                pipe.incr(self._failures_key())
                pipe.expire(self._failures_key(), 3600)
                failures = int(pipe.execute()[0])
        except RedisError as exc:
            log.warning("campaign %s: failure not counted: %s", self.campaign_id, exc)
            return
        if failures >= self.settings.campaign_max_consecutive_failures:
            pause_for_failures(self.campaign_id, failures)
            self.tally.stop(Stop.FAILURES, f"{failures} consecutive failures")

    def _consecutive_success(self) -> None:
        # Any success ends the run of failures. A Redis call only when a run may be going on:
        # one this worker saw, or one the round found when it started.
        if self._failures_seen:
            try:
                queue.connection(self.app).delete(self._failures_key())
            except RedisError:
                return  # tried again after the next success
            self._failures_seen = False


def _pause_itself(campaign_id: int, reason: str) -> None:
    """The campaign pauses itself and says why (own transaction; only if still sending)."""
    with db.engine.begin() as conn:
        conn.execute(
            update(Campaign.__table__)
            .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SENDING)
            .values(status=CampaignStatus.PAUSED, paused_reason=reason, updated_at=utcnow())
        )
