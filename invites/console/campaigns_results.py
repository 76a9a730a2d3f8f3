"""A campaign's aggregate results as CSV: counts only, never a person.

One table of `section,item,count` rows: the campaign itself, outcomes by status, why messages
failed or are unknown, what was attributed to it (unsubscribes, complaints, hard bounces) and
messages sent per hour. Times are UTC and say so ("…Z"). A GET that changes nothing.

A spreadsheet runs a cell that starts with = + - @ (or a tab or carriage return) as a
formula; a campaign name or a failure reason is text someone typed or a server wrote, so such
a cell is prefixed with an apostrophe and opens as the text it is.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from flask import Response

from invites.campaigns import progress
from invites.console.campaigns import bp, load
from invites.console.display import category_name
from invites.core.db import db

#: How many distinct failure reasons the file lists at most (the commonest first).
REASONS = 1000
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A cell a spreadsheet shows as text, never runs: formula starts get an apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def utc(value: datetime | None) -> str:
    """A stored (naive UTC) time as ISO 8601 with its zone: 2026-12-07T10:00:00Z."""
    if value is None:
        return ""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _filename(campaign_id: int, name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "campaign"
    return f"campaign-{campaign_id}-{slug}-results.csv"


@bp.get("/<int:campaign_id>/results.csv")
def results_csv(campaign_id: int) -> Response:
    """Download the campaign's aggregate results as CSV (counts only; reading changes nothing)."""
    campaign = load(campaign_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(["section", "item", "count"])
    about = [
        ("id", campaign.id),
        ("name", campaign.name),
        ("category", category_name(campaign.category)),
        ("status", campaign.status),
        ("started_at_utc", utc(campaign.started_at)),
        ("finished_at_utc", utc(campaign.finished_at)),
    ]
    for item, value in about:
        writer.writerow(["campaign", item, safe_cell(value)])
    for status, n in progress.counts(db.session, campaign.id).items():
        writer.writerow(["outcome", status, n])
    for reason, n in progress.failure_reasons(db.session, campaign.id, REASONS):
        writer.writerow(["failure_reason", safe_cell(reason), n])
    for name, n in progress.attributed(db.session, campaign.id).items():
        writer.writerow(["attributed", name, n])
    for hour, n in progress.sends_per_hour(db.session, campaign.id):
        writer.writerow(["sent_per_hour_utc", utc(hour), n])
    return Response(
        # A byte-order mark: spreadsheets otherwise read UTF-8 names as their local code page.
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{_filename(campaign.id, campaign.name)}"'
        },
    )
