"""What the settings form's audience conditions show: the rows, the saved segments to start
from, and the live count (a number only, small ones blurred: invites.campaigns.segments)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from invites.campaigns import planner, segments
from invites.campaigns.models import Campaign, SavedSegment
from invites.console.segment_forms import Conditions, attribute_choices, segment_form, shown, typed
from invites.core.db import db


@dataclass(frozen=True)
class SegmentView:
    """Everything the conditions block of the settings form needs."""

    conditions: Conditions
    count: str | None
    errors: dict[str, str]
    saved: list[tuple[int, str]]
    attributes: list[tuple[str, str, str]]
    ops: dict[str, str]


def count_shown(category: str, locale: str | None, segment: segments.Segment) -> str:
    """How many contacts category, language and segment would reach now, as shown."""
    probe = Campaign(category=category, locale=locale, segment=segment.to_json())
    settings = current_app.config["SETTINGS"]
    found = planner.count_audience(db.session.connection(), probe, settings)
    return segments.shown(found, bool(segment.conditions))


def saved_segments() -> list[tuple[int, str]]:
    """(id, name) of every saved segment, by name."""
    rows = db.session.execute(
        select(SavedSegment.id, SavedSegment.name).order_by(SavedSegment.name)
    )
    return [(int(i), str(n)) for i, n in rows]


def segment_view(
    campaign: Campaign | None, form: Mapping[str, Any] | None, errors: dict[str, str] | None = None
) -> SegmentView:
    """The block for a campaign (or a new one), from what was typed when `form` is given."""
    problems = {k: v for k, v in (errors or {}).items() if k.startswith(("cond-", "segment"))}
    if form is not None:
        conditions = typed(form)
        segment, found = segment_form(form)
        problems = problems or found
        category = str(form.get("category") or (campaign.category if campaign else ""))
        locale = str(form.get("locale") or "") or None
    else:
        segment = segments.load(campaign.segment if campaign else None)
        conditions = shown(segment)
        category = campaign.category if campaign else "promotional"
        locale = campaign.locale if campaign else None
    count = None
    if not problems and category:
        count = count_shown(category, locale, segment)
    return SegmentView(
        conditions,
        count,
        problems,
        saved_segments(),
        attribute_choices(),
        {str(op): label for op, label in segments.OP_LABELS.items()},
    )
