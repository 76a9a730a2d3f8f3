"""Finding campaigns: by name, state, category and dates, newest first, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from invites.campaigns.models import Campaign
from invites.core.db import AnySession
from invites.core.search import contains

#: Campaigns per page of the list.
PAGE_SIZE = 25


@dataclass(frozen=True)
class Filter:
    """What the list narrows to; an empty field matches everything.

    `name` matches part of the name (any case, typed text literally); `since` and `before`
    are naive UTC bounds on the campaign's date: when it started, else when it is scheduled,
    else when it was created. Archived campaigns are listed only with `archived`.
    """

    name: str = ""
    status: str = ""
    category: str = ""
    since: datetime | None = None
    before: datetime | None = None
    archived: bool = False


@dataclass(frozen=True)
class Page:
    """One page of campaigns and where it lies among all that match."""

    campaigns: list[Campaign]
    number: int
    pages: int
    total: int


def when(campaign: type[Campaign] = Campaign) -> Any:
    """The date a campaign is listed by: started, else scheduled, else created."""
    return func.coalesce(campaign.started_at, campaign.scheduled_at, campaign.created_at)


def search(session: AnySession, where: Filter, page: int = 1, size: int = PAGE_SIZE) -> Page:
    """The campaigns matching `where`, newest first, one page of `size` (pages count from 1)."""
    conditions: list[Any] = [
        Campaign.archived_at.is_not(None) if where.archived else Campaign.archived_at.is_(None)
    ]
    if where.name:
        conditions.append(contains(Campaign.name, where.name))
    if where.status:
        conditions.append(Campaign.status == where.status)
    if where.category:
        conditions.append(Campaign.category == where.category)
    if where.since is not None:
        conditions.append(when() >= where.since)
    if where.before is not None:
        conditions.append(when() < where.before)
    total = session.scalar(select(func.count()).select_from(Campaign).where(*conditions)) or 0
    pages = max(1, -(-total // size))
    number = min(max(1, page), pages)
    query = (
        select(Campaign)
        .where(*conditions)
        .order_by(Campaign.id.desc())
        .offset((number - 1) * size)
        .limit(size)
    )
    return Page(list(session.scalars(query)), number, pages, total)
