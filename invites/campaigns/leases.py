"""Batch leases: which run holds a batch of a campaign, and until when.

One live run holds a batch at a time. Taking it is one conditional UPDATE (pending and due,
or running on a lease that ran out) that names the run's random token; the run renews the
lease after every round, and every later change to the batch names the token again, so a
run that lost its lease (it stalled past CAMPAIGN_LEASE_SECONDS and another run took the
batch over) changes nothing of the new holder's. A run that dies stops renewing: once the
lease ends the tick wakes the batch, and the next claim first records the row the dead run
left `sending` as unknown (rules.INTERRUPTED), never sends it again.

A held batch (a local-time group whose hour passed while the service was down, see
invites.campaigns.late) and a batch not yet due are never claimed. These statements run on
the run's control connection, each committed at once.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, exists, func, or_, select, true, update

from invites.campaigns import late
from invites.campaigns.models import (
    BatchStatus,
    Campaign,
    CampaignBatch,
    CampaignDelivery,
    CampaignStatus,
    Delivery,
)
from invites.core.db import utcnow
from invites.delivery import rules

_BATCHES = CampaignBatch.__table__
_LEDGER = CampaignDelivery.__table__
_CAMPAIGNS = Campaign.__table__
#: Pending batches looked at when a run takes its campaign's next one.
_NEXT_CANDIDATES = 8


class Lease:
    """One run's hold on the batch it sends (`batch_id`), and the statements that keep it."""

    def __init__(self, seconds: float) -> None:
        self.token = uuid.uuid4().hex
        self.length = timedelta(seconds=seconds)
        self.batch_id: int | None = None
        self._renewed = 0.0  # time.monotonic() of the last claim or renewal
        # Built once: a statement object keeps its cache key, so each renewal only binds.
        self._renew = (
            update(_BATCHES)
            .where(_BATCHES.c.id == bindparam("batch"), _BATCHES.c.lease_token == self.token)
            .values(leased_until=bindparam("until"))
        )

    def claim(
        self, conn: Connection, batch_id: int, now: datetime, *, only_sending: bool = False
    ) -> bool:
        """Take a due batch that nobody runs (or whose runner's lease ran out); commit.

        With `only_sending`, only while its campaign is sending: a run going on to the next
        batch takes none of a campaign paused or cancelled since its last look, in the same
        statement, so nothing leaves after a pause that returned before the claim.
        """
        sending = (
            exists()
            .where(_CAMPAIGNS.c.id == _BATCHES.c.campaign_id)
            .where(_CAMPAIGNS.c.status == CampaignStatus.SENDING)
        )
        taken = conn.execute(
            update(_BATCHES)
            .where(
                sending if only_sending else true(),
                _BATCHES.c.id == batch_id,
                _BATCHES.c.due_at <= now,
                or_(
                    _BATCHES.c.status == BatchStatus.PENDING,
                    and_(_BATCHES.c.status == BatchStatus.RUNNING, _BATCHES.c.leased_until < now),
                ),
            )
            .values(
                status=BatchStatus.RUNNING, lease_token=self.token, leased_until=now + self.length
            )
        ).rowcount
        conn.commit()
        if taken:
            self.batch_id, self._renewed = batch_id, time.monotonic()
        return bool(taken)

    def campaign_of(self, conn: Connection) -> int:
        """The campaign of the batch this lease holds."""
        found = conn.execute(
            select(_BATCHES.c.campaign_id).where(_BATCHES.c.id == self.batch_id)
        ).scalar_one()
        return int(found)

    def take_next(
        self, conn: Connection, campaign_id: int, now: datetime, grace: timedelta
    ) -> bool:
        """Claim another due, pending batch of the campaign; False if there is none.

        A batch never woken whose group's hour passed long ago is held for a person first
        (late.hold, as the tick would when it woke it), never sent late by a passing run.
        """
        waiting = list(
            conn.execute(
                select(_BATCHES.c.id)
                .where(
                    _BATCHES.c.campaign_id == campaign_id,
                    _BATCHES.c.status == BatchStatus.PENDING,
                    _BATCHES.c.due_at <= now,
                )
                .order_by(_BATCHES.c.id)
                .limit(_NEXT_CANDIDATES)
            ).scalars()
        )
        waiting = late.hold(conn, waiting, now, grace)
        conn.commit()
        # The same conditional claim as a job's: if another worker took one first, the next;
        # two runs never hold one batch.
        return any(self.claim(conn, batch_id, now, only_sending=True) for batch_id in waiting)

    def close_interrupted(self, conn: Connection, now: datetime) -> int:
        """Record as unknown what a dead run left `sending` in the held batch; commit; return
        how many rows (at most one per dead run)."""
        # We hold the batch, so a row still `sending` belongs to a run that died mid-send:
        # its message may have arrived. Unknown, never resent.
        closed = conn.execute(
            update(_LEDGER)
            .where(_LEDGER.c.batch_id == self.batch_id, _LEDGER.c.status == Delivery.SENDING)
            .values(status=Delivery.UNKNOWN, reason=rules.INTERRUPTED, updated_at=now)
        ).rowcount
        conn.commit()
        return int(closed)

    def renew(self, conn: Connection) -> None:
        """Keep the lease at least three quarters of CAMPAIGN_LEASE_SECONDS ahead; commit.

        Called after every round; it writes only once a quarter of the lease has passed since
        the last write, so a run crawling at a slow rate (a round per token) doesn't pay a
        commit, waited for on disk, per message.
        """
        now = time.monotonic()
        if now - self._renewed < self.length.total_seconds() / 4:
            return
        conn.execute(self._renew, {"batch": self.batch_id, "until": utcnow() + self.length})
        conn.commit()
        self._renewed = now

    def release(self, conn: Connection) -> None:
        """Give the batch back untouched, pending as it was; commit."""
        self._update(conn, status=BatchStatus.PENDING, lease_token=None, leased_until=None)

    def settle(self, conn: Connection) -> bool:
        """Done when no row waits; else pending again, due when its next retry is; commit.
        Return whether the batch is done."""
        waiting = conn.execute(
            select(func.count(), func.min(_LEDGER.c.next_attempt_at)).where(
                _LEDGER.c.batch_id == self.batch_id, _LEDGER.c.status == Delivery.QUEUED
            )
        ).one()
        values: dict[str, Any] = {"lease_token": None, "leased_until": None}
        if waiting[0]:
            values.update(status=BatchStatus.PENDING, due_at=waiting[1], enqueued_at=None)
        else:
            values.update(status=BatchStatus.DONE, finished_at=utcnow())
        self._update(conn, **values)
        return not waiting[0]

    def _update(self, conn: Connection, **values: Any) -> None:
        conn.execute(
            update(_BATCHES)
            .where(_BATCHES.c.id == self.batch_id, _BATCHES.c.lease_token == self.token)
            .values(**values)
        )
        conn.commit()
