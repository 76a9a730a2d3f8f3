"""When a campaign goes out: at its moment, held when it is long late, and at a local hour in
each contact's own time zone. Time is moved with time-machine (it flows on from where it is
put, so RQ's own timers work); sends go through real jobs in this process, which sees the
moved clock."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask import Flask

from invites.campaigns import content, jobs, late, lifecycle
from invites.campaigns.models import Campaign, CampaignBatch
from invites.core import audit
from invites.core.config import Settings
from invites.core.db import db
from mailer.authoring import Draft

from ..support.campaigns import BODY, Person, actor, make_campaign, seed, status, step
from ..support.helpers import make_app, run_jobs
from ..support.smtpd import SMTPSink
from ..support.staff import post_form, signed_in

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
    who, settings = actor(app), app.config["SETTINGS"]
    step(
        app,
        campaign_id,
        lambda c: lifecycle.schedule(
            db.session,
            c,
            who,
            settings,
            at=at,
            local_date=local_date,
            local_time=local_time,
            default_zone=default_zone,
        ),
    )


def _tick_and_send(app: Flask) -> None:
    with app.app_context():
        jobs.campaign_tick()
    run_jobs(app)  # the planner, then every due batch, in this process (time moved with it)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _at(moment: datetime) -> time_machine.travel:
    """Put the clock at a naive UTC moment; it runs on from there."""
    return time_machine.travel(moment.replace(tzinfo=UTC), tick=True)


def _campaign(app: Flask, campaign_id: int) -> Campaign:
    with app.app_context():
        found = db.session.get(Campaign, campaign_id)
        assert found is not None
        db.session.expunge(found)
        db.session.remove()
    return found


def _held(app: Flask, campaign_id: int) -> int:
    with app.app_context():
        count, _ = late.held_groups(db.session.connection(), campaign_id)
        db.session.remove()
    return count


def _confirm(app: Flask, campaign_id: int) -> int:
    """What the console's "Send it now, late" does, then the wake-up it queues."""
    who, settings = actor(app), app.config["SETTINGS"]
    released = step(
        app, campaign_id, lambda c: lifecycle.confirm_late(db.session, c, who, settings)
    )
    with app.app_context():
        if released:
            jobs.wake(campaign_id)
        else:
            jobs.enqueue_plan(campaign_id)
    return released


def test_a_campaign_goes_out_at_its_moment_not_before(camp: Flask, smtp_sink: SMTPSink) -> None:
    seed(camp, [Person(1, "a@example.org", "en", True, None, None)])
    campaign_id = make_campaign(camp)
    at = datetime(2031, 5, 4, 9, 30)
    with _at(datetime(2031, 5, 4, 9, 0)):
        _schedule(camp, campaign_id, at=at)
        _tick_and_send(camp)
        assert smtp_sink.messages == [] and status(camp, campaign_id) == "scheduled"
    with _at(datetime(2031, 5, 4, 9, 31)):
        _tick_and_send(camp)
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["a@example.org"]]
    assert status(camp, campaign_id) == "done"


def test_a_campaign_long_past_its_time_waits_for_a_person(camp: Flask, smtp_sink: SMTPSink) -> None:
    seed(camp, [Person(1, "a@example.org", "en", True, None, None)])
    campaign_id = make_campaign(camp)
    with _at(datetime(2031, 5, 4, 9, 0)):
        _schedule(camp, campaign_id, at=datetime(2031, 5, 4, 10, 0))
    # The service was down for a day; a restored copy would do the same (listmonk #1801).
    with _at(datetime(2031, 5, 5, 10, 0)):
        _tick_and_send(camp)
        assert status(camp, campaign_id) == "held" and smtp_sink.messages == []
        assert _confirm(camp, campaign_id) == 0  # it starts
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


#: One contact per zone, and how 10:00 local on 2031-05-04 reads in UTC.
ZONES: dict[str, tuple[str | None, datetime]] = {
    "tokyo@example.org": ("Asia/Tokyo", datetime(2031, 5, 4, 1, 0)),  # UTC+9
    "moscow@example.org": ("Europe/Moscow", datetime(2031, 5, 4, 7, 0)),  # UTC+3
    "berlin@example.org": ("Europe/Berlin", datetime(2031, 5, 4, 8, 0)),  # UTC+2 in May
    "nowhere@example.org": (None, datetime(2031, 5, 4, 8, 0)),  # the default: Berlin
    "mars@example.org": ("Mars/Olympus", datetime(2031, 5, 4, 8, 0)),  # unreadable: the default
    "newyork@example.org": ("America/New_York", datetime(2031, 5, 4, 14, 0)),  # UTC-4 in May
}
DAY = date(2031, 5, 4)


def _seed_zones(app: Flask, which: dict[str, tuple[str | None, datetime]] = ZONES) -> None:
    seed(
        app,
        [
            Person(n, email, "en", True, None, None, time_zone=zone)
            for n, (email, (zone, _)) in enumerate(which.items(), start=1)
        ],
    )


def _scheduled_days_ahead(app: Flask) -> int:
    """A campaign for 10:00 local on DAY to one contact in each of ZONES (default zone
    Berlin), scheduled three days before."""
    _seed_zones(app)
    campaign_id = make_campaign(app)
    with _at(datetime(2031, 5, 1, 12, 0)):
        _schedule(
            app, campaign_id, local_date=DAY, local_time="10:00", default_zone="Europe/Berlin"
        )
    return campaign_id


def _step(app: Flask, sink: SMTPSink, moment: datetime) -> set[str]:
    """The scheduler's tick and the workers at `moment`; who received something then."""
    before = len(sink.messages)
    with _at(moment):
        _tick_and_send(app)
    return {r for m in sink.messages[before:] for r in m.rcpt_tos}


def _due(*emails: str) -> set[str]:
    return set(emails)


def test_a_local_time_made_minutes_ahead_starts_at_that_hour_not_a_day_early(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    # The case: contacts in Moscow and some with no zone, the default Moscow;
    # scheduled at 09:50 Moscow time for 10:00 the same day.
    _seed_zones(
        camp,
        {
            "moscow@example.org": ("Europe/Moscow", datetime(2031, 5, 4, 7, 0)),
            "nowhere@example.org": (None, datetime(2031, 5, 4, 7, 0)),
        },
    )
    campaign_id = make_campaign(camp)
    with _at(datetime(2031, 5, 4, 6, 50)):
        _schedule(
            camp, campaign_id, local_date=DAY, local_time="10:00", default_zone="Europe/Moscow"
        )
    # It starts at 10:00 in Moscow (07:00 UTC), not at 10:00 in UTC+14 the day before.
    assert _campaign(camp, campaign_id).scheduled_at == datetime(2031, 5, 4, 7, 0)
    assert _step(camp, smtp_sink, datetime(2031, 5, 4, 6, 57)) == set()
    assert status(camp, campaign_id) == "scheduled"
    got = _step(camp, smtp_sink, datetime(2031, 5, 4, 7, 0, 20))
    assert got == {"moscow@example.org", "nowhere@example.org"}
    assert status(camp, campaign_id) == "done" and _held(camp, campaign_id) == 0


def test_a_local_time_made_days_ahead_reaches_each_zone_at_its_hour(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    campaign_id = _scheduled_days_ahead(camp)
    # The earliest zone the audience has: Tokyo.
    assert _campaign(camp, campaign_id).scheduled_at == datetime(2031, 5, 4, 1, 0)
    steps = [
        (datetime(2031, 5, 4, 0, 55), set()),
        (datetime(2031, 5, 4, 1, 0, 20), _due("tokyo@example.org")),
        (datetime(2031, 5, 4, 6, 55), set()),
        (datetime(2031, 5, 4, 7, 0, 20), _due("moscow@example.org")),
        (datetime(2031, 5, 4, 7, 55), set()),
        (
            datetime(2031, 5, 4, 8, 0, 20),
            _due("berlin@example.org", "nowhere@example.org", "mars@example.org"),
        ),
        (datetime(2031, 5, 4, 13, 55), set()),
        (datetime(2031, 5, 4, 14, 0, 20), _due("newyork@example.org")),
    ]
    for moment, expected in steps:
        assert _step(camp, smtp_sink, moment) == expected, moment
        assert _held(camp, campaign_id) == 0
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == sorted(ZONES)
    with camp.app_context():
        batches = db.session.scalars(
            db.select(CampaignBatch.due_at).where(CampaignBatch.campaign_id == campaign_id)
        ).all()
        db.session.remove()
    # One group per moment: Berlin, no zone and the unreadable zone share 08:00 UTC.
    assert Counter(batches) == Counter({due: 1 for _, due in ZONES.values()})
    assert status(camp, campaign_id) == "done"


def test_an_outage_holds_only_the_groups_whose_hour_passed_while_it_lasted(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    campaign_id = _scheduled_days_ahead(camp)
    # Down from before Tokyo's hour until 08:30 UTC (CAMPAIGN_LATE_GRACE: an hour). Tokyo's
    # hour passed 7.5 h ago and Moscow's 1.5 h ago: held. Berlin's passed 30 minutes ago: it
    # goes now. New York's is still to come: it goes at its hour.
    got = _step(camp, smtp_sink, datetime(2031, 5, 4, 8, 30))
    assert got == _due("berlin@example.org", "nowhere@example.org", "mars@example.org")
    assert status(camp, campaign_id) == "sending" and _held(camp, campaign_id) == 2
    assert _step(camp, smtp_sink, datetime(2031, 5, 4, 14, 0, 20)) == _due("newyork@example.org")
    # The held groups keep the campaign from being done until a person decides.
    assert status(camp, campaign_id) == "sending" and _held(camp, campaign_id) == 2
    with _at(datetime(2031, 5, 4, 15, 0)):
        # A person sees them on the campaign's page and sends them, late.
        client = signed_in(camp, "mia@example.com")
        page = f"/console/campaigns/{campaign_id}"
        shown = client.get(page).text
        assert "Held: 2 contacts whose local hour passed while the service was down" in shown
        assert post_form(client, f"{page}/confirm", {}, page).status_code == 303
        run_jobs(camp)
    late_ones = {r for m in smtp_sink.messages[-2:] for r in m.rcpt_tos}
    assert late_ones == _due("tokyo@example.org", "moscow@example.org")
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == sorted(ZONES)
    assert status(camp, campaign_id) == "done" and _held(camp, campaign_id) == 0
    with camp.app_context():
        steps = [e.action for e in audit.events_for(db.session, "campaign", campaign_id)]
        db.session.remove()
    assert steps[0] == "campaign.confirm_late"


def test_an_outage_after_the_start_holds_the_groups_it_spanned(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    campaign_id = _scheduled_days_ahead(camp)
    assert _step(camp, smtp_sink, datetime(2031, 5, 4, 1, 0, 20)) == _due("tokyo@example.org")
    # Down from 01:30 to 09:30 UTC: Moscow's (07:00) and Berlin's (08:00) hours passed more
    # than an hour before the scheduler came back; New York's had not come.
    assert _step(camp, smtp_sink, datetime(2031, 5, 4, 9, 30)) == set()
    assert _held(camp, campaign_id) == 4  # Moscow; Berlin, no zone and the unreadable one
    assert _step(camp, smtp_sink, datetime(2031, 5, 4, 14, 0, 20)) == _due("newyork@example.org")
    assert status(camp, campaign_id) == "sending"


def test_a_local_time_campaign_whose_every_hour_passed_is_held_whole(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    campaign_id = _scheduled_days_ahead(camp)
    # Back only after New York's hour too had passed more than an hour ago.
    assert _step(camp, smtp_sink, datetime(2031, 5, 4, 15, 30)) == set()
    assert status(camp, campaign_id) == "held"
    with _at(datetime(2031, 5, 4, 15, 40)):
        assert _confirm(camp, campaign_id) == 0  # it starts, for everybody, now
        run_jobs(camp)
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == sorted(ZONES)
    assert status(camp, campaign_id) == "done" and _held(camp, campaign_id) == 0


def test_a_local_time_whose_hour_passed_everywhere_is_refused(camp: Flask) -> None:
    _seed_zones(camp)
    campaign_id = make_campaign(camp)
    with (
        _at(datetime(2031, 5, 4, 15, 0)),
        pytest.raises(lifecycle.CampaignError, match="passed in every zone"),
    ):
        _schedule(camp, campaign_id, local_date=DAY, local_time="10:00")


def test_a_scheduled_campaign_edited_after_its_approval_waits_for_a_new_one(
    settings: Settings, app: Flask, smtp_sink: SMTPSink
) -> None:
    strict = make_app(settings, smtp_url=smtp_sink.url, campaign_approval="required")
    seed(strict, [Person(1, "a@example.org", "en", True, None, None)])
    campaign_id = make_campaign(strict)

    leo = actor(strict, "leo@example.com")

    def approve() -> None:
        step(strict, campaign_id, lambda c: lifecycle.approve(db.session, c, leo))

    approve()
    with _at(datetime(2031, 5, 4, 9, 0)):
        _schedule(strict, campaign_id, at=datetime(2031, 5, 4, 9, 30))
        with strict.app_context():  # the author changes the subject after the approval
            campaign = db.session.get(Campaign, campaign_id)
            assert campaign is not None
            draft = Draft(subject="Changed", preheader="", body=BODY)
            compiled = content.compile_locale(strict, campaign, "en", draft, sample={})
            lifecycle.save_content(
                db.session, campaign, actor(strict), "en", draft, content.stored(compiled)
            )
            db.session.commit()
    assert _step(strict, smtp_sink, datetime(2031, 5, 4, 9, 31)) == set()
    assert status(strict, campaign_id) == "scheduled"  # not sent unapproved
    approve()
    assert _step(strict, smtp_sink, datetime(2031, 5, 4, 9, 32)) == {"a@example.org"}
    assert [m.message["Subject"] for m in smtp_sink.messages] == ["Changed"]
