"""How a campaign is doing, in aggregate only: never anything about one person.

The bar's denominator is the ledger itself (everyone the campaign reached for), so it follows
eligibility as it changes and reaches 100% exactly when nobody is left queued — listmonk fixes
the denominator at the start, and its bar rarely gets there (#1789).
"""

from __future__ import annotations

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
    CampaignStatus,
    Delivery,
)
from invites.core.db import AnySession

_LEDGER = CampaignDelivery.__table__


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
    found: dict[str, int] = dict(
        session.execute(
            select(_LEDGER.c.status, func.count())
            .where(_LEDGER.c.campaign_id == campaign_id)
            .group_by(_LEDGER.c.status)
        ).all()
    )
    return {status.value: int(found.get(status.value, 0)) for status in Delivery}


def progress(session: AnySession, app: Flask, campaign: Campaign) -> Progress:
    """Where the campaign stands now."""
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
