"""What the console's home page shows at a glance: counts only, never a person.

Each part is one or two small queries on an index (campaigns by status, the progress counts
of a handful of campaigns in one query, suppressions by reason and date, consent withdrawals
by date, the outbox by status, data requests by status and date) or a few Redis calls, so
the page costs the same with a million contacts as with a hundred. The home view decides
which parts a role sees; this module only reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from flask import Flask
from sqlalchemy import func, select

from invites.accounts.categories import MARKETING
from invites.accounts.models import ConsentEvent
from invites.campaigns import late, pace, progress
from invites.campaigns.models import Campaign, CampaignStatus
from invites.core import queue
from invites.core.db import AnySession
from invites.core.models import Suppression
from invites.core.suppression import Reason
from invites.datarequests.models import COMPLETED, DataRequest
from invites.delivery.models import OutboundMessage, Status

#: The periods the feedback counts cover, in days.
PERIODS = (7, 30)
#: Finished campaigns shown with their results.
FINISHED = 5
#: Campaigns under way shown (the list has the rest).
UNDER_WAY = 20
#: Done campaigns this recent are checked for unknown outcomes left to review.
REVIEW_DAYS = 30
#: A campaign waiting on a person: held, or paused.
_WAITING = (CampaignStatus.HELD, CampaignStatus.PAUSED)


@dataclass(frozen=True)
class Live:
    """A campaign sending, paused, scheduled or held, with how far and how fast."""

    campaign: Campaign
    progress: progress.Progress
    pace: pace.Pace


@dataclass(frozen=True)
class Finished:
    """A finished campaign and its results."""

    campaign: Campaign
    counts: dict[str, int]
    attributed: dict[str, int]


@dataclass(frozen=True)
class Attention:
    """Something that waits for a person: what, how many, and the campaign it is about."""

    kind: str  # held, paused_itself, held_groups, unknown
    campaign: Campaign
    count: int


def under_way(session: AnySession, app: Flask) -> list[Live] | None:
    """Campaigns sending, paused, scheduled or held: sending first, then by when they start
    (None: Redis, which keeps their rates, didn't answer)."""
    rows = session.scalars(
        select(Campaign)
        .where(
            Campaign.status.in_(
                [
                    CampaignStatus.SENDING,
                    CampaignStatus.PAUSED,
                    CampaignStatus.HELD,
                    CampaignStatus.SCHEDULED,
                ]
            )
        )
        .order_by(Campaign.scheduled_at, Campaign.id)
        .limit(UNDER_WAY)
    ).all()
    order = {"sending": 0, "paused": 1, "held": 2, "scheduled": 3}
    ordered = sorted(rows, key=lambda c: order.get(c.status, 9))
    out = []
    try:
        # Their counts in one query (progress_of), whatever the campaigns' sizes.
        for campaign, now in progress.progress_of(session, app, ordered):
            left = now.total - now.done
            shown = pace.pace(app, campaign, done=now.done, left=left, limit=now.limit)
            out.append(Live(campaign, now, shown))
    except redis.RedisError:
        return None  # the rest of the page still shows (it is when an admin looks)
    return out


def finished(session: AnySession, count: int = FINISHED) -> list[Finished]:
    """The last campaigns that finished sending, newest first, with their results."""
    rows = session.scalars(
        select(Campaign)
        .where(Campaign.status == CampaignStatus.DONE)
        .order_by(Campaign.finished_at.desc(), Campaign.id.desc())
        .limit(count)
    ).all()
    counts = progress.counts_of(session, [c.id for c in rows])
    return [Finished(c, counts[c.id], progress.attributed(session, c.id)) for c in rows]


def attention(session: AnySession, now: datetime) -> list[Attention]:
    """Campaigns that wait for a person: held past their time, paused by themselves, holding
    zone groups, or done with unknown outcomes to review (and retry, if wanted)."""
    out: list[Attention] = []
    waiting = session.scalars(
        select(Campaign).where(Campaign.status.in_(list(_WAITING))).order_by(Campaign.id)
    ).all()
    for campaign in waiting:
        if campaign.status == CampaignStatus.HELD:
            out.append(Attention("held", campaign, 0))
        elif pace.state_of(campaign) == "paused_itself":
            out.append(Attention("paused_itself", campaign, 0))
    groups = session.scalars(
        select(Campaign)
        .where(Campaign.status.in_([CampaignStatus.SENDING, CampaignStatus.PAUSED]))
        .order_by(Campaign.id)
    ).all()
    for campaign in groups:
        held, _dues = late.held_groups(session.connection(), campaign.id)
        if held:
            out.append(Attention("held_groups", campaign, held))
    recent = session.scalars(
        select(Campaign)
        .where(
            Campaign.status.in_([CampaignStatus.DONE, CampaignStatus.PAUSED]),
            Campaign.archived_at.is_(None),
            func.coalesce(Campaign.finished_at, Campaign.updated_at)
            >= now - timedelta(days=REVIEW_DAYS),
        )
        .order_by(Campaign.id.desc())
        .limit(50)
    ).all()
    counts = progress.counts_of(session, [c.id for c in recent])
    for campaign in recent:
        unknown = counts[campaign.id]["unknown"]
        if unknown:
            out.append(Attention("unknown", campaign, unknown))
    return out


def feedback(session: AnySession, now: datetime) -> dict[int, dict[str, int]]:
    """Per period (days): people who unsubscribed from some marketing (a complaint is
    counted as a complaint), addresses that bounced hard, and spam complaints."""
    out: dict[int, dict[str, int]] = {}
    for days in PERIODS:
        since = now - timedelta(days=days)
        unsubscribed = session.scalar(
            select(func.count(func.distinct(ConsentEvent.contact_id))).where(
                ConsentEvent.created_at >= since,
                ConsentEvent.granted.is_(False),
                ConsentEvent.category.in_(MARKETING),
                ConsentEvent.source != "complaint",
            )
        )
        found = dict(
            session.execute(
                select(Suppression.reason, func.count())
                .where(
                    Suppression.reason.in_([Reason.HARD_BOUNCE, Reason.COMPLAINT]),
                    Suppression.created_at >= since,
                )
                .group_by(Suppression.reason)
            ).all()
        )
        out[days] = {
            "unsubscribed": int(unsubscribed or 0),
            "bounced": int(found.get(Reason.HARD_BOUNCE, 0)),
            "complained": int(found.get(Reason.COMPLAINT, 0)),
        }
    return out


@dataclass(frozen=True)
class QueueDepth:
    """One RQ queue: jobs waiting, running, waiting to retry, and failed."""

    name: str
    queued: int
    started: int
    scheduled: int
    failed: int


def queues(app: Flask) -> list[QueueDepth] | None:
    """The RQ queues' depth, as their registries stand (None: Redis didn't answer)."""
    try:
        with queue.connection(app).pipeline(transaction=False) as pipe:
            for name in queue.QUEUES:
                q = queue.queue(name, app)
                pipe.llen(q.key)
                # Sizes as they stand: RQ's `count` cleans a registry first, and a GET
                # changes nothing.
                for registry in (
                    q.started_job_registry,
                    q.scheduled_job_registry,
                    q.failed_job_registry,
                ):
                    pipe.zcard(registry.key)
            found = pipe.execute()
    except redis.RedisError:
        return None
    return [
        QueueDepth(name, *(int(n) for n in found[i * 4 : i * 4 + 4]))
        for i, name in enumerate(queue.QUEUES)
    ]


def outbox(session: AnySession, now: datetime, days: int = 7) -> list[dict[str, Any]]:
    """The outbox per kind of mail: waiting (a first try or a retry), being sent, and — of
    the messages last due in the past `days` — failed and unknown."""
    since = now - timedelta(days=days)
    waiting = session.execute(
        select(
            OutboundMessage.kind,
            OutboundMessage.status,
            (OutboundMessage.attempts > 0).label("retry"),
            func.count(),
        )
        .where(OutboundMessage.status.in_([Status.PENDING, Status.SENDING]))
        .group_by(OutboundMessage.kind, OutboundMessage.status, "retry")
    ).all()
    # The outbox index is (status, next_attempt_at): a final message's next_attempt_at is
    # when it was last due, close to when it ended.
    ended = session.execute(
        select(OutboundMessage.kind, OutboundMessage.status, func.count())
        .where(
            OutboundMessage.status.in_([Status.FAILED, Status.UNKNOWN]),
            OutboundMessage.next_attempt_at >= since,
        )
        .group_by(OutboundMessage.kind, OutboundMessage.status)
    ).all()
    kinds: dict[str, dict[str, Any]] = {}

    def row(kind: str) -> dict[str, Any]:
        return kinds.setdefault(
            kind,
            {"kind": kind, "waiting": 0, "retrying": 0, "sending": 0, "failed": 0, "unknown": 0},
        )

    for kind, status, retry, n in waiting:
        if status == Status.SENDING:
            row(kind)["sending"] += int(n)
        else:
            row(kind)["retrying" if retry else "waiting"] += int(n)
    for kind, status, n in ended:
        row(kind)[str(status)] += int(n)
    return [kinds[k] for k in sorted(kinds)]


def data_requests(session: AnySession, now: datetime, due_days: int) -> dict[str, int]:
    """Data requests not answered yet, and how many of them are overdue."""
    open_ = select(func.count()).where(DataRequest.status.not_in(list(COMPLETED)))
    waiting = session.scalar(open_.select_from(DataRequest)) or 0
    overdue = (
        session.scalar(
            open_.select_from(DataRequest).where(
                DataRequest.created_at < now - timedelta(days=due_days)
            )
        )
        or 0
    )
    return {"open": int(waiting), "overdue": int(overdue)}
