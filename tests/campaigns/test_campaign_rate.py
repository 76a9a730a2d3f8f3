"""Send rates: per campaign and per relay, counted as messages are handed to SMTP, across
worker processes; contacts found ineligible at send time cost no part of the rate."""

from __future__ import annotations

import dataclasses

from flask import Flask

from invites.accounts.models import Preference
from invites.core.db import db, utcnow

from ..support.campaigns import (
    Person,
    make_campaign,
    received,
    seed,
    send_now,
    start_and_plan,
    until_done,
)
from ..support.helpers import make_app
from ..support.smtpd import SMTPSink


def _busiest_second(times: list[float]) -> int:
    """The most messages the sink stored within any one second."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def _audience(n: int) -> list[Person]:
    return [Person(i, f"r{i}@example.org", "en", True, None, None) for i in range(1, n + 1)]


def test_a_campaigns_own_rate_holds_across_worker_processes(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    seed(camp, _audience(45))
    campaign_id = make_campaign(camp, rate_per_second=15)
    send_now(camp, campaign_id)
    until_done(camp, campaign_id)  # burst worker processes, one after another, and ticks

    times = [m.received_at for m in smtp_sink.messages]
    assert len(times) == 45 and max(received(smtp_sink).values()) == 1
    # A moving window: never more than the limit in any second (one message of slack for
    # the time between the hand-over and the sink storing it).
    assert _busiest_second(times) <= 16
    assert max(times) - min(times) >= (45 - 15) / 15 - 0.2


def test_the_relay_limit_holds_and_skipped_contacts_cost_nothing(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    relay = make_app(
        dataclasses.replace(camp.config["SETTINGS"], smtp_rate_per_second=10),
    )
    audience = _audience(60)
    seed(relay, audience)
    campaign_id = make_campaign(relay)
    # Two thirds opt out after planning took them in: found ineligible when their turn comes.
    start_and_plan(relay, campaign_id)
    with relay.app_context():
        db.session.execute(
            db.update(Preference)
            .where(Preference.category == "promotional", Preference.contact_id % 3 != 0)
            .values(granted=False, updated_at=utcnow())
        )
        db.session.commit()
        db.session.remove()
    until_done(relay, campaign_id)

    times = [m.received_at for m in smtp_sink.messages]
    assert len(times) == 20  # only those who still want it
    assert _busiest_second(times) <= 11
    # In a moving window of 10 a second, 20 tokens take at least 1 s and 60 at least 5 s: had
    # the 40 skipped contacts taken tokens, the last message could not have left before 5 s.
    # The bound leaves the rest for a slow, busy machine (3.5 s was missed under load).
    assert max(times) - min(times) < 4.5
