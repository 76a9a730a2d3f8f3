"""The pace a campaign's page shows: a rate right from the first seconds, a time left only
while something is left, read from the real per-second counters in Redis."""

from __future__ import annotations

import time

from flask import Flask

from invites.campaigns import lifecycle, pace, ratelimit
from invites.campaigns.models import Anchor, Campaign
from invites.core.db import db

from ..support.campaigns import actor, make_campaign, people, seed, start_and_plan, step


def _campaign(app: Flask, campaign_id: int) -> Campaign:
    with app.app_context():
        found = db.session.get(Campaign, campaign_id)
        assert found is not None
        db.session.expunge(found)
        db.session.remove()
    return found


def _sending(app: Flask, rate: int | None = 1) -> int:
    seed(app, people(12))
    campaign_id = make_campaign(app, rate_per_second=rate)
    start_and_plan(app, campaign_id, whole=True)
    return campaign_id


def test_a_young_campaign_reads_its_rate_from_its_first_send(app: Flask) -> None:
    campaign_id = _sending(app)
    now = int(time.time())
    # Ten seconds ago it began sending one message a second (what the sender counts).
    ratelimit.count_sent(app, campaign_id, list(range(now - 10, now)))
    campaign = _campaign(app, campaign_id)
    found = pace.pace(app, campaign, done=10, left=25, limit=1, now=now)
    assert (found.state, found.rate, found.window) == ("sending", 1.0, 10)
    assert (found.eta_seconds, found.eta_basis) == (25, "rate")  # 25 left at 1/s
    # The minute-long average the page used to show: 0.2/s, a time left five times too long.
    assert round(ratelimit.rate_last_minute(app, campaign_id), 2) < 0.2
    # A whole minute of sending: the one-minute rate.
    ratelimit.count_sent(app, campaign_id, [s for s in range(now - 60, now - 10) for _ in (1, 2)])
    steady = pace.pace(app, campaign, done=110, left=30, limit=None, now=now)
    assert (steady.window, round(steady.rate or 0, 2), steady.eta_seconds) == (60, 1.83, 16)


def test_before_its_first_send_the_time_left_is_estimated_from_the_limit(app: Flask) -> None:
    campaign_id = _sending(app, rate=2)
    campaign = _campaign(app, campaign_id)
    found = pace.pace(app, campaign, done=0, left=30, limit=2)
    assert (found.state, found.rate, found.eta_seconds, found.eta_basis) == (
        "starting",
        None,
        15,
        "limit",
    )
    assert found.as_json()["rate"] is None  # the page says "starting", never "0.0/s"
    unlimited = pace.pace(app, campaign, done=0, left=30, limit=None)
    assert (unlimited.eta_seconds, unlimited.eta_basis) == (None, None)
    assert pace.pace(app, campaign, done=30, left=0, limit=2).eta_seconds == 0


def test_paused_done_and_cancelled_campaigns_have_no_time_left(app: Flask) -> None:
    campaign_id = _sending(app)
    now = int(time.time())
    ratelimit.count_sent(app, campaign_id, list(range(now - 5, now)))
    step(app, campaign_id, lambda c: lifecycle.pause(db.session, c, actor(app), "paused by mia"))
    paused = pace.pace(app, _campaign(app, campaign_id), done=5, left=7, limit=1, now=now)
    assert (paused.state, paused.rate, paused.eta_seconds) == ("paused", None, None)

    step(
        app,
        campaign_id,
        lambda c: lifecycle.resume(db.session, c, actor(app), app.config["SETTINGS"]),
    )
    with app.app_context():
        lifecycle.pause_for_failures(campaign_id, 5)
    itself = pace.pace(app, _campaign(app, campaign_id), done=5, left=7, limit=1, now=now)
    assert (itself.state, itself.eta_seconds) == ("paused_itself", None)

    step(app, campaign_id, lambda c: lifecycle.cancel(db.session, c, actor(app)))
    cancelled = pace.pace(app, _campaign(app, campaign_id), done=5, left=7, limit=1, now=now)
    assert (cancelled.state, cancelled.rate, cancelled.eta_seconds) == ("cancelled", None, None)


def test_a_local_time_campaign_gives_no_time_left_from_a_rate(app: Flask) -> None:
    campaign_id = _sending(app)
    now = int(time.time())
    ratelimit.count_sent(app, campaign_id, list(range(now - 5, now)))
    campaign = _campaign(app, campaign_id)
    campaign.anchor = Anchor.LOCAL  # each zone's group goes at its own hour
    found = pace.pace(app, campaign, done=5, left=7, limit=1, now=now)
    assert (found.rate, found.eta_seconds) == (1.0, None)


def test_measure_counts_from_the_first_second_with_a_send() -> None:
    assert pace.measure([0, 0, 0, 0]) == (None, 4)
    assert pace.measure([0, 0, 3, 0, 1]) == (4 / 3, 3)
    assert pace.measure([2, 2]) == (2.0, 2)
