"""How a campaign is doing, in aggregate only: never anything about one person.

The bar's denominator is the ledger itself (everyone the campaign reached for), so it follows
eligibility as it changes and reaches 100% exactly when nobody is left queued — listmonk fixes
the denominator at the start, and its bar rarely gets there (#1789).

The counts per status come from `campaign_progress`, which triggers on the ledger keep in the
same transaction as each ledger row (migration 0012): a poll reads at most 16 rows per
campaign, whether the campaign has 10,000 contacts or 1,000,000 (a GROUP BY over the ledger
took 236 ms of PostgreSQL per poll at 1,000,000).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from invites.campaigns import ratelimit
from invites.campaigns.models import (
    FINAL_DELIVERIES,
    Campaign,
    CampaignCount,
    CampaignDelivery,
    CampaignProgress,
    CampaignStatus,
    Delivery,
)
from invites.core.db import AnySession

_LEDGER = CampaignDelivery.__table__
_COUNTS = CampaignProgress.__table__


@dataclass(frozen=True)
class Progress:
    """The live view: how far, how fast, how long still."""

    status: str
    counts: dict[str, int]
    total: int
    done: int
    percent: float
    rate: float
    limit: int | None
    eta_seconds: int | None
    paused_reason: str | None

    def as_json(self) -> dict[str, Any]:
        """What the page polls."""
        return {
            "status": self.status,
            "counts": self.counts,
            "total": self.total,
            "done": self.done,
            "percent": round(self.percent, 1),
            "rate": round(self.rate, 1),
            "limit": self.limit,
            "eta_seconds": self.eta_seconds,
            "paused_reason": self.paused_reason,
        }


def counts(session: AnySession, campaign_id: int) -> dict[str, int]:
    """Ledger rows per status (every status present, zeros included)."""
    return counts_of(session, [campaign_id])[campaign_id]


def counts_of(session: AnySession, campaign_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Ledger rows per status of each of these campaigns, in one query of their counter rows."""
    ids = list(campaign_ids)
    found: dict[int, dict[str, int]] = {i: {status.value: 0 for status in Delivery} for i in ids}
    if not ids:
        return found
    columns = [func.coalesce(func.sum(_COUNTS.c[s.value]), 0) for s in Delivery]
    rows = session.execute(
        select(_COUNTS.c.campaign_id, *columns)
        .where(_COUNTS.c.campaign_id.in_(ids))
        .group_by(_COUNTS.c.campaign_id)
    ).all()
    for campaign_id, *values in rows:
        found[campaign_id] = {s.value: int(v) for s, v in zip(Delivery, values, strict=True)}
    return found


def ledger_counts(session: AnySession, campaign_id: int) -> dict[str, int]:
    """The same counts from the ledger itself, by GROUP BY: what the counters must equal
    (slow on a large campaign; for checks, never for a page)."""
    found: dict[str, int] = dict(
        session.execute(
            select(_LEDGER.c.status, func.count())
            .where(_LEDGER.c.campaign_id == campaign_id)
            .group_by(_LEDGER.c.status)
        ).all()
    )
    return {status.value: int(found.get(status.value, 0)) for status in Delivery}


def progress(
    session: AnySession, app: Flask, campaign: Campaign, by_status: dict[str, int] | None = None
) -> Progress:
    """Where the campaign stands now (from `by_status` when the caller read them already)."""
    if by_status is None:
        by_status = counts(session, campaign.id)
    total = sum(by_status.values())
    if not campaign.planning_done and campaign.audience_at_start:
        total = max(total, campaign.audience_at_start)  # planning still under way
    done = sum(by_status[s.value] for s in FINAL_DELIVERIES)
    finished = campaign.status in (CampaignStatus.DONE,) or (
        campaign.planning_done and done == total
    )
    percent = 100.0 if finished and total == done else (100.0 * done / total if total else 0.0)
    rate = ratelimit.rate_last_minute(app, campaign.id)
    relay = ratelimit.relay_limit(app)
    limits = [x for x in (campaign.rate_per_second, relay.per_second if relay else None) if x]
    left = total - done
    eta = int(left / rate) if rate > 0 and left > 0 else (0 if left == 0 else None)
    return Progress(
        status=campaign.status,
        counts=by_status,
        total=total,
        done=done,
        percent=percent,
        rate=rate,
        limit=min(limits) if limits else None,
        eta_seconds=eta,
        paused_reason=campaign.paused_reason,
    )


def progress_of(
    session: AnySession, app: Flask, campaigns: Sequence[Campaign]
) -> list[tuple[Campaign, Progress]]:
    """Each campaign with its progress, their counts read in one query (the campaign list)."""
    by_id = counts_of(session, [c.id for c in campaigns])
    return [(c, progress(session, app, c, by_id[c.id])) for c in campaigns]


def failure_reasons(
    session: AnySession, campaign_id: int, limit: int = 10
) -> list[tuple[str, int]]:
    """The commonest reasons messages failed or went unknown (texts carry no address)."""
    rows = session.execute(
        select(_LEDGER.c.reason, func.count().label("n"))
        .where(
            _LEDGER.c.campaign_id == campaign_id,
            _LEDGER.c.status.in_([Delivery.FAILED, Delivery.UNKNOWN]),
        )
        .group_by(_LEDGER.c.reason)
        .order_by(func.count().desc())
        .limit(limit)
    ).all()
    return [(reason or "(no reason)", int(n)) for reason, n in rows]


def attributed(session: AnySession, campaign_id: int) -> dict[str, int]:
    """Unsubscribes, complaints and hard bounces this campaign caused."""
    found = dict(
        session.execute(
            select(CampaignCount.name, CampaignCount.count).where(
                CampaignCount.campaign_id == campaign_id
            )
        ).all()
    )
    return {name: int(found.get(name, 0)) for name in ("unsubscribed", "complained", "bounced")}


def _hour_expr(dialect: str) -> Any:
    column = _LEDGER.c.sent_at
    if dialect == "postgresql":
        return func.date_trunc("hour", column)
    return func.strftime("%Y-%m-%d %H:00:00", column)


def sends_per_hour(session: AnySession, campaign_id: int) -> list[tuple[datetime, int]]:
    """Messages sent per hour (UTC), for the results chart."""
    hour = _hour_expr(session.get_bind().dialect.name).label("hour")
    rows = session.execute(
        select(hour, func.count())
        .where(_LEDGER.c.campaign_id == campaign_id, _LEDGER.c.status == Delivery.SENT)
        .group_by(hour)
        .order_by(hour)
    ).all()
    out = []
    for when, n in rows:
        if isinstance(when, str):
            when = datetime.fromisoformat(when)
        out.append((when, int(n)))
    return out
