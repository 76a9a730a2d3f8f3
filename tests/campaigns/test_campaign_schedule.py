"""When a campaign goes out: at its moment, held when it is long late, and at a local hour in
each contact's own time zone. Time is moved with time-machine; sends go through real jobs."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask import Flask

from invites.campaigns import jobs, lifecycle
from invites.campaigns.models import Campaign, CampaignBatch
from invites.core.db import db

from ..support.campaigns import Person, actor, make_campaign, seed, status
from ..support.helpers import run_jobs
from ..support.smtpd import SMTPSink

UTC = ZoneInfo("UTC")


def _schedule(
    app: Flask,
    campaign_id: int,
    *,
    at: datetime | None = None,
    local_date: date | None = None,
    local_time: str | None = None,
    default_zone: str = "UTC",
) -> None:
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        lifecycle.schedule(
            db.session,
            campaign,
            actor(app),
            app.config["SETTINGS"],
            at=at,
            local_date=local_date,
            local_time=local_time,
            default_zone=default_zone,
        )
        db.session.commit()


def _tick_and_send(app: Flask) -> None:
    with app.app_context():
        jobs.campaign_tick()
    run_jobs(app)  # the planner, then every due batch, in this process (time moved with it)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def test_a_campaign_goes_out_at_its_moment_not_before(camp: Flask, smtp_sink: SMTPSink) -> None:
    seed(camp, [Person(1, "a@example.org", "en", True, None, None)])
    campaign_id = make_campaign(camp)
    at = datetime(2031, 5, 4, 9, 30)
    with time_machine.travel(datetime(2031, 5, 4, 9, 0, tzinfo=UTC), tick=False):
        _schedule(camp, campaign_id, at=at)
        _tick_and_send(camp)
        assert smtp_sink.messages == [] and status(camp, campaign_id) == "scheduled"
    with time_machine.travel(datetime(2031, 5, 4, 9, 31, tzinfo=UTC), tick=False):
        _tick_and_send(camp)
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["a@example.org"]]
    assert status(camp, campaign_id) == "done"


def test_a_campaign_long_past_its_time_waits_for_a_person(camp: Flask, smtp_sink: SMTPSink) -> None:
    seed(camp, [Person(1, "a@example.org", "en", True, None, None)])
    campaign_id = make_campaign(camp)
    with time_machine.travel(datetime(2031, 5, 4, 9, 0, tzinfo=UTC), tick=False):
        _schedule(camp, campaign_id, at=datetime(2031, 5, 4, 10, 0))
    # The service was down for a day; a restored copy would do the same (listmonk #1801).
    with time_machine.travel(datetime(2031, 5, 5, 10, 0, tzinfo=UTC), tick=False):
        _tick_and_send(camp)
        assert status(camp, campaign_id) == "held" and smtp_sink.messages == []
        with camp.app_context():
            campaign = db.session.get(Campaign, campaign_id)
            assert campaign is not None
            lifecycle.confirm_late(db.session, campaign, actor(camp), camp.config["SETTINGS"])
            db.session.commit()
            jobs.enqueue_plan(campaign_id)
        run_jobs(camp)
    assert len(smtp_sink.messages) == 1 and status(camp, campaign_id) == "done"


def test_a_time_already_gone_is_refused(camp: Flask) -> None:
    campaign_id = make_campaign(camp)
    with camp.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        with pytest.raises(lifecycle.CampaignError, match="passed"):
            lifecycle.schedule(
                db.session,
                campaign,
                actor(camp),
                camp.config["SETTINGS"],
                at=datetime(2001, 1, 1),
            )


ZONES = {
    "tokyo@example.org": "Asia/Tokyo",
    "moscow@example.org": "Europe/Moscow",
    "newyork@example.org": "America/New_York",
    "nowhere@example.org": None,  # the campaign's default zone
}


def test_local_time_delivery_puts_each_message_in_its_hour(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    seed(
        camp,
        [
            Person(n, email, "en", True, None, None, time_zone=zone)
            for n, (email, zone) in enumerate(ZONES.items(), start=1)
        ],
    )
    campaign_id = make_campaign(camp)
    day = date(2031, 5, 4)
    with time_machine.travel(datetime(2031, 5, 3, 12, 0, tzinfo=UTC), tick=False):
        _schedule(
            camp, campaign_id, local_date=day, local_time="10:00", default_zone="Europe/Berlin"
        )
    due = {
        email: _naive_utc(datetime(2031, 5, 4, 10, 0, tzinfo=ZoneInfo(zone or "Europe/Berlin")))
        for email, zone in ZONES.items()
    }
    arrived: dict[str, datetime] = {}
    # Walk the day in 30-minute steps, as the scheduler's tick would see it.
    moment = datetime(2031, 5, 3, 19, 30)  # before the earliest zone on Earth (UTC+14)
    while moment <= datetime(2031, 5, 5, 0, 0):
        with time_machine.travel(moment.replace(tzinfo=UTC), tick=False):
            before = len(smtp_sink.messages)
            _tick_and_send(camp)
            for m in smtp_sink.messages[before:]:
                arrived[m.rcpt_tos[0]] = moment
        moment += timedelta(minutes=30)

    assert set(arrived) == set(ZONES)
    for email, sent_at in arrived.items():
        # In the first half hour after 10:00 in the contact's own zone, not before.
        assert due[email] <= sent_at < due[email] + timedelta(minutes=30), email
    with camp.app_context():
        batches = db.session.scalars(
            db.select(CampaignBatch.due_at).where(CampaignBatch.campaign_id == campaign_id)
        ).all()
    assert Counter(batches) == Counter(due.values())
    assert status(camp, campaign_id) == "done"
