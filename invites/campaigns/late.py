"""When a campaign's time has passed long ago: what starts, and what waits for a person.

A campaign whose moment passed more than CAMPAIGN_LATE_GRACE before the service got to it
(it was down, or a snapshot was restored elsewhere: listmonk #1801) must not go out by
itself. A local-time campaign is judged group by group, since its zones' hours are hours
apart: after an outage only the groups whose hour passed while the service was down are
held, and the others go at their own hour as if nothing happened.

The service "got to" a group when the campaign started, for a group whose hour had passed by
then, or else when the scheduler's tick first woke its batches (`enqueued_at` still empty)
after its hour. Steps a person takes are not judged again: send now and confirm set the
campaign's `scheduled_at` to that moment, and only groups due at or after it are judged.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, exists, func, or_, select, update

from invites.campaigns.models import (
    Anchor,
    BatchStatus,
    Campaign,
    CampaignBatch,
    CampaignDelivery,
    Delivery,
)

_BATCHES = CampaignBatch.__table__
_CAMPAIGNS = Campaign.__table__
_LEDGER = CampaignDelivery.__table__


def whole_campaign_late(latest_due: datetime, now: datetime, grace: timedelta) -> bool:
    """Whether even the campaign's last group's moment passed more than `grace` ago."""
    return latest_due < now - grace


def hold(conn: Connection, batch_ids: list[int], now: datetime, grace: timedelta) -> list[int]:
    """Hold the batches among `batch_ids` whose group's hour passed too long before the service
    got to them; return the others, to be woken as usual. The caller commits."""
    if not batch_ids:
        return []
    tried = exists(
        select(_LEDGER.c.id).where(
            _LEDGER.c.batch_id == _BATCHES.c.id,
            or_(_LEDGER.c.status != Delivery.QUEUED, _LEDGER.c.attempts > 0),
        )
    )
    # Candidates only: pending, never woken, due before the grace began, nobody tried yet.
    rows = conn.execute(
        select(_BATCHES.c.id, _BATCHES.c.due_at, _CAMPAIGNS.c.started_at, _CAMPAIGNS.c.scheduled_at)
        .join(_CAMPAIGNS, _CAMPAIGNS.c.id == _BATCHES.c.campaign_id)
        .where(
            _BATCHES.c.id.in_(batch_ids),
            _BATCHES.c.status == BatchStatus.PENDING,
            _BATCHES.c.enqueued_at.is_(None),
            _BATCHES.c.due_at < now - grace,
            ~tried,
        )
    ).all()
    late = [
        batch_id
        for batch_id, due, started, scheduled in rows
        if _late(due, started, scheduled, now, grace)
    ]
    held: set[int] = set()
    if late:
        # Conditional: a worker that claimed one meanwhile has it, and it goes.
        held = set(
            conn.execute(
                update(_BATCHES)
                .where(
                    _BATCHES.c.id.in_(late),
                    _BATCHES.c.status == BatchStatus.PENDING,
                    _BATCHES.c.enqueued_at.is_(None),
                )
                .values(status=BatchStatus.HELD)
                .returning(_BATCHES.c.id)
            ).scalars()
        )
    return [b for b in batch_ids if b not in held]


def _late(
    due: datetime,
    started: datetime | None,
    scheduled: datetime | None,
    now: datetime,
    grace: timedelta,
) -> bool:
    if scheduled is not None and due < scheduled:
        return False  # a person sent or confirmed it after this moment: not judged again
    if started is None or due > started:
        return due < now - grace  # planned ahead of its hour; the tick wakes it only now
    return due < started - grace  # its hour had long passed when the campaign started


def release(conn: Connection, campaign_id: int, now: datetime) -> int:
    """A person confirmed the held groups: due now, woken like any other; return how many
    batches."""
    return conn.execute(
        update(_BATCHES)
        .where(_BATCHES.c.campaign_id == campaign_id, _BATCHES.c.status == BatchStatus.HELD)
        .values(status=BatchStatus.PENDING, due_at=now, enqueued_at=None)
    ).rowcount


def held_groups(conn: Connection, campaign_id: int) -> tuple[int, list[datetime]]:
    """How many contacts a campaign holds, and the moments their groups were due."""
    rows = conn.execute(
        select(_BATCHES.c.due_at, func.sum(_BATCHES.c.planned))
        .where(_BATCHES.c.campaign_id == campaign_id, _BATCHES.c.status == BatchStatus.HELD)
        .group_by(_BATCHES.c.due_at)
        .order_by(_BATCHES.c.due_at)
    ).all()
    return sum(int(n or 0) for _, n in rows), [due for due, _ in rows]


def has_held(conn: Connection, campaign_id: int) -> bool:
    """Whether any of the campaign's groups waits for a person's confirmation."""
    found = conn.execute(
        select(_BATCHES.c.id).where(
            and_(_BATCHES.c.campaign_id == campaign_id, _BATCHES.c.status == BatchStatus.HELD)
        )
    ).first()
    return found is not None


def is_local(campaign: Campaign) -> bool:
    """Whether the campaign is sent at a wall-clock hour in each contact's zone."""
    return campaign.anchor == Anchor.LOCAL and campaign.local_date is not None
