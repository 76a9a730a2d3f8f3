"""Cut a sending campaign's audience into batches: ledger rows first, then one job per batch.

The planner walks the eligible contacts by id (keyset, as listmonk does) and writes, for each
chunk, a batch and its ledger rows in one transaction; only then is the batch's job enqueued.
Nothing is marked done when it is fetched: a ledger row leaves `queued` only when its message
has been tried. A planner that dies is run again and skips contacts already in the ledger, so
planning twice plans nobody twice (the ledger is unique per campaign and contact).

A one-moment campaign is planned in slices (`Slice`): the first job plans one batch, each later
one plans for about SLICE_SECONDS, then queues the rest of the planning behind the batches it
planned. A lone worker so alternates short planning with sending, instead of stopping for
seconds (2.5 s at 100,000 contacts) while it plans the whole audience.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import date, datetime
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, exists, func, insert, literal, select, update

from invites.accounts import eligibility
from invites.accounts.models import Contact
from invites.campaigns import segments
from invites.campaigns.models import (
    Anchor,
    BatchStatus,
    Campaign,
    CampaignBatch,
    CampaignDelivery,
    Delivery,
)
from invites.core import zones
from invites.core.config import Settings
from invites.core.db import utcnow

log = logging.getLogger(__name__)

_LEDGER = CampaignDelivery.__table__
_BATCHES = CampaignBatch.__table__
_CONTACTS = Contact.__table__

#: How long one planning job of a one-moment campaign plans before its batches go first: the
#: longest a lone worker stops sending to plan (with a job's start and end, under 0.5 s).
SLICE_SECONDS = 0.1


def audience(campaign: Campaign, settings: Settings) -> Any:
    """The condition on Contact for this campaign's audience, right now: the one eligibility
    rule, and the campaign's segment (invites.campaigns.segments)."""
    return and_(
        eligibility.may_receive(campaign.category, settings, campaign.locale),
        segments.clause(campaign.segment),
    )


def count_audience(conn: Connection, campaign: Campaign, settings: Settings) -> int:
    """How many contacts the campaign would reach if it were sent now."""
    return int(
        conn.execute(
            select(func.count(Contact.id)).where(audience(campaign, settings))
        ).scalar_one()
    )


def zone_of(name: str | None, default: str) -> ZoneInfo:
    """A contact's zone, or the campaign's default for a contact with none or a bad one."""
    for candidate in (name, default):
        if zones.is_zone(candidate):
            return ZoneInfo(str(candidate))
    return ZoneInfo("UTC")


def local_due(day: date, at: str, zone: ZoneInfo) -> datetime:
    """The UTC moment (naive, as stored) of wall-clock `at` on `day` in `zone`.

    A time the clocks skip that day (a spring-forward gap) is read with the offset before
    the change, so it falls within the hour after it, as zoneinfo's `fold=0` does.
    """
    hour, minute = (int(part) for part in at.split(":"))
    local = datetime.combine(day, clock(hour, minute), tzinfo=zone)
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _zones(
    conn: Connection, campaign: Campaign, settings: Settings
) -> Iterator[tuple[Any, datetime]]:
    """(condition on the contact's zone, due moment) for each zone group of the audience,
    earliest first. Contacts with no zone, or a name that isn't an IANA zone, count in the
    campaign's default zone (its group is the default zone's, if other contacts have it)."""
    assert campaign.local_date is not None and campaign.local_time is not None
    names = conn.execute(
        select(Contact.time_zone).where(audience(campaign, settings)).distinct()
    ).scalars()
    default = zone_of(None, campaign.default_zone)
    groups: dict[datetime, list[str]] = {}
    default_too: list[str] = []  # names read as the default zone
    has_default = False
    for name in names:
        if not zones.is_zone(name) or name == default.key:
            has_default = True
            if name:
                default_too.append(name)
            continue
        due = local_due(campaign.local_date, campaign.local_time, ZoneInfo(name))
        groups.setdefault(due, []).append(name)
    default_due = local_due(campaign.local_date, campaign.local_time, default)
    conditions: dict[datetime, Any] = {
        due: Contact.time_zone.in_(group) for due, group in groups.items()
    }
    if has_default:
        # The default zone's contacts ride with any other zone whose hour falls at the same
        # moment (e.g. Europe/Kyiv with a default of Europe/Helsinki).
        theirs = Contact.time_zone.is_(None) | Contact.time_zone.in_(default_too or [""])
        same = conditions.get(default_due)
        conditions[default_due] = theirs if same is None else (same | theirs)
    for due in sorted(conditions):
        yield conditions[due], due


def zone_dues(conn: Connection, campaign: Campaign, settings: Settings) -> list[datetime]:
    """When each zone group of a local-time campaign's audience is due, earliest first
    (the default zone's moment alone for an audience with no one in it yet)."""
    dues = [due for _, due in _zones(conn, campaign, settings)]
    if dues:
        return dues
    assert campaign.local_date is not None and campaign.local_time is not None
    zone = zone_of(None, campaign.default_zone)
    return [local_due(campaign.local_date, campaign.local_time, zone)]


def plan_chunk(
    conn: Connection,
    campaign: Campaign,
    settings: Settings,
    *,
    after: int,
    size: int,
    due_at: datetime,
    extra: Any = None,
) -> tuple[int, int] | None:
    """Plan one batch of up to `size` contacts with id > after; return (batch id, last id)."""
    now = utcnow()
    batch_id = int(
        conn.execute(
            insert(_BATCHES)
            .values(
                campaign_id=campaign.id,
                status=BatchStatus.PENDING,
                due_at=due_at,
                created_at=now,
                first_contact_id=0,
                last_contact_id=0,
                planned=0,
            )
            .returning(_BATCHES.c.id)
        ).scalar_one()
    )
    already = exists(
        select(_LEDGER.c.id).where(
            _LEDGER.c.campaign_id == campaign.id, _LEDGER.c.contact_id == Contact.id
        )
    )
    chosen = (
        select(
            literal(campaign.id),
            Contact.id,
            literal(batch_id),
            literal(Delivery.QUEUED.value),
            literal(0),
            literal(due_at),
            literal(now),
        )
        .where(Contact.id > after, audience(campaign, settings), ~already)
        .where(extra if extra is not None else literal(True))
        .order_by(Contact.id)
        .limit(size)
    )
    ids = (
        conn.execute(
            insert(_LEDGER)
            .from_select(
                [
                    "campaign_id",
                    "contact_id",
                    "batch_id",
                    "status",
                    "attempts",
                    "next_attempt_at",
                    "updated_at",
                ],
                chosen,
            )
            .returning(_LEDGER.c.contact_id)
        )
        .scalars()
        .all()
    )
    if not ids:
        conn.execute(_BATCHES.delete().where(_BATCHES.c.id == batch_id))
        return None
    first, last = min(i for i in ids if i is not None), max(i for i in ids if i is not None)
    conn.execute(
        update(_BATCHES)
        .where(_BATCHES.c.id == batch_id)
        .values(first_contact_id=first, last_contact_id=last, planned=len(ids))
    )
    return batch_id, last


def planned_up_to(conn: Connection, campaign: Campaign) -> int:
    """The highest contact id already in a one-moment campaign's ledger (0 if none).

    Chunks are planned in id order, so planning can go on from there instead of walking
    past every contact already taken. A local-time campaign plans zone by zone: 0.
    """
    if campaign.anchor == Anchor.LOCAL:
        return 0
    found = conn.execute(
        select(func.max(_LEDGER.c.contact_id)).where(_LEDGER.c.campaign_id == campaign.id)
    ).scalar_one()
    return int(found or 0)


def plan(
    conn: Connection, campaign: Campaign, settings: Settings, *, size: int, after: int = 0
) -> Iterator[tuple[int, datetime]]:
    """Plan the audience (a one-moment campaign's from contact id `after` on), committing
    each batch before yielding it (id, due) to enqueue."""
    groups: list[tuple[Any, datetime]]
    if campaign.anchor == Anchor.LOCAL:
        groups = list(_zones(conn, campaign, settings))
        start = 0
    else:
        groups = [(literal(True), campaign.scheduled_at or utcnow())]
        start = after
    for condition, due_at in groups:
        after = start
        while True:
            planned = plan_chunk(
                conn, campaign, settings, after=after, size=size, due_at=due_at, extra=condition
            )
            conn.commit()
            if planned is None:
                break
            batch_id, after = planned
            yield batch_id, due_at


class Slice:
    """When a planning job stops and leaves the rest of the planning to a job queued behind
    the batches it planned: a fresh one-moment campaign after its first batch (its first
    message leaves within a second of "send"), later ones after SLICE_SECONDS. A local-time
    campaign is planned whole (each zone group is walked from the start)."""

    def __init__(self, campaign: Campaign, after: int, seconds: float | None = None) -> None:
        self.sliced = campaign.anchor == Anchor.MOMENT
        self.first = after == 0
        self.ends = time.monotonic() + (SLICE_SECONDS if seconds is None else seconds)

    def over(self) -> bool:
        """Whether the job should stop planning now (checked after each planned batch)."""
        return self.sliced and (self.first or time.monotonic() >= self.ends)
