"""What a campaign's page says about its pace: a rate that is right from the first seconds,
a time left only while something is left to wait for, and the state it is in.

The progress counts (invites.campaigns.progress) say how far; this says how fast and how
long still. The rate is measured from the per-second counters of sent messages over the last
minute, but from the first second with a send in it: a campaign that began (or resumed) ten
seconds ago at 1 message a second reads 1.0/s, not the 0.2/s that ten sends spread over a
whole minute would give (and a time left five times too long). Before its first send the time
left is estimated from the rate limit. Done, cancelled and paused campaigns have no time left.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import Flask

from invites.campaigns import ratelimit
from invites.campaigns.models import Anchor, Campaign, CampaignStatus

#: Seconds of per-second counters read: the one-minute rate of a campaign under way.
WINDOW = 60
#: Statuses before anything was sent: their pages show no progress, rate or results.
NOT_STARTED = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.HELD)
#: What a paused campaign's reason starts with when a person paused it (the console's words).
PAUSED_BY_PERSON = "paused by "


@dataclass(frozen=True)
class Pace:
    """How fast, how long still, and the state to show."""

    #: draft, scheduled, held, starting (sending, nothing sent yet), sending, paused,
    #: paused_itself (after failures), done or cancelled.
    state: str
    #: Messages a second over `window` seconds; None while there is nothing to measure.
    rate: float | None
    window: int
    #: Seconds until nothing is left; None when there is no time left to show.
    eta_seconds: int | None
    #: What the time left is worked out from: "rate" (measured) or "limit" (before a send).
    eta_basis: str | None

    def as_json(self) -> dict[str, Any]:
        """What the page's poll adds to the progress counts."""
        return {
            "state": self.state,
            "rate": None if self.rate is None else round(self.rate, 1),
            "rate_window": self.window,
            "eta_seconds": self.eta_seconds,
            "eta_basis": self.eta_basis,
        }


def state_of(campaign: Campaign) -> str:
    """The state a page shows: the status, with a campaign that paused itself told apart."""
    if campaign.status == CampaignStatus.PAUSED and not (campaign.paused_reason or "").startswith(
        PAUSED_BY_PERSON
    ):
        return "paused_itself"
    return str(campaign.status)


def measure(per_second: list[int]) -> tuple[float | None, int]:
    """The rate over the seconds from the first one with a send (None: no send at all), and
    how many seconds that is."""
    first = next((i for i, n in enumerate(per_second) if n), None)
    if first is None:
        return None, len(per_second)
    window = len(per_second) - first
    return sum(per_second[first:]) / window, window


def pace(
    app: Flask,
    campaign: Campaign,
    *,
    done: int,
    left: int,
    limit: int | None,
    now: float | None = None,
) -> Pace:
    """The campaign's pace now. `done`: messages with an outcome; `left`: still queued or on
    the wire; `limit`: the lowest rate limit that applies (None: none)."""
    state = state_of(campaign)
    if campaign.status != CampaignStatus.SENDING:
        return Pace(state, None, 0, None, None)  # not started, paused or over: no time left
    second = int(time.time() if now is None else now)
    rate, window = measure(ratelimit.sent_per_second(app, campaign.id, WINDOW, second))
    if rate is None and done == 0:
        state = "starting"
    if left <= 0:
        return Pace(state, rate, window, 0, "rate")
    if campaign.anchor == Anchor.LOCAL:
        # Each zone's group waits for its own hour: no rate says when the last one goes.
        return Pace(state, rate, window, None, None)
    if rate:
        return Pace(state, rate, window, max(1, round(left / rate)), "rate")
    if limit and state == "starting":
        return Pace(state, None, window, max(1, round(left / limit)), "limit")
    return Pace(state, None, window, None, None)
