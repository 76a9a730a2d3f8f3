"""A partner campaign reaches only consents that a partner-sharing change has not voided,
decided when each message is sent: by the planner, and again by the batch sender."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select, update

from invites.accounts.models import Preference
from invites.campaigns import jobs
from invites.campaigns.models import CampaignBatch
from invites.core.config import Settings
from invites.core.db import db, utcnow

from ..support.campaigns import (
    Person,
    ledger,
    make_campaign,
    people,
    received,
    seed,
    send_now,
    start_and_plan,
    until_done,
)
from ..support.helpers import make_app
from ..support.policy import INITIAL, begin_archive, publish
from ..support.smtpd import SMTPSink

NEW = "2027-01"


@pytest.fixture()
def camp(app: Flask, settings: Settings, smtp_sink: SMTPSink) -> Flask:
    """An app delivering to the sink, on the `app` fixture's clean tables, small batches."""
    return make_app(
        dataclasses.replace(
            settings, smtp_url=smtp_sink.url, campaign_batch_size=20, retry_base_seconds=0
        )
    )


def _consented_under(app: Flask, audience: list[Person], ids: dict[str, int]) -> set[str]:
    """Record each partner consent under a version: every third one under the new version,
    the rest under the initial one or none known; return who consented under the new one."""
    renewed: set[str] = set()
    with app.app_context():
        for i, person in enumerate(p for p in audience if p.partner is not None):
            label = NEW if i % 3 == 0 else (INITIAL if i % 3 == 1 else None)
            if label == NEW:
                renewed.add(person.email)
            db.session.execute(
                update(Preference)
                .where(Preference.contact_id == ids[person.email])
                .values(policy_version=label)
            )
        db.session.commit()
        db.session.remove()
    return renewed


def _world(
    app: Flask, n: int, effective_in_days: int, published_days_ago: int
) -> tuple[set[str], set[str], int]:
    """The initial version in force for 60 days, a partner-sharing change taking effect
    `effective_in_days` from today, n contacts whose partner consents name either, and a
    partner campaign: return (whom it may reach by their consent alone, whom it may reach
    once the change is in force, the campaign)."""
    begin_archive(app, 60)
    publish(app, NEW, effective_in_days, published_days_ago=published_days_ago, partner=True)
    audience = people(n)
    renewed = _consented_under(app, audience, seed(app, audience))
    everyone = {p.email for p in audience if p.gets("partner_offers")}
    want = everyone & renewed
    assert want and everyone - want  # both kinds are there
    return everyone, want, make_campaign(app, category="partner_offers", partner_name="Acme")


def test_the_change_in_force_keeps_old_consents_out_of_a_campaign(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    _, want, campaign_id = _world(camp, 120, 0, published_days_ago=40)  # in force today
    send_now(camp, campaign_id)
    until_done(camp, campaign_id)  # real worker processes
    got = received(smtp_sink)
    assert set(got) == want and max(got.values()) == 1
    assert len(ledger(camp, campaign_id)) == len(want)  # the planner left the others out


def test_a_change_that_takes_effect_mid_campaign_holds_at_send_time(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    everyone, want, campaign_id = _world(camp, 60, 1, published_days_ago=30)  # tomorrow
    start_and_plan(camp, campaign_id, whole=True)  # today: every consent still counts
    assert len(ledger(camp, campaign_id)) == len(everyone)
    tomorrow = datetime.combine(utcnow().date() + timedelta(days=1), datetime.min.time())
    # The batches are sent the day the change takes effect: the batch job runs here, in the
    # process whose clock is moved.
    moment = tomorrow.replace(hour=0, minute=5, tzinfo=UTC)
    with time_machine.travel(moment, tick=True), camp.app_context():
        batches = db.session.scalars(
            select(CampaignBatch.id).where(CampaignBatch.campaign_id == campaign_id)
        ).all()
        db.session.remove()
        for batch_id in batches:
            jobs.send_batch(batch_id)
            db.session.remove()
    got = received(smtp_sink)
    assert set(got) == want and max(got.values()) == 1
    states = Counter(ledger(camp, campaign_id).values())
    assert states == {"sent": len(want), "skipped": len(everyone - want)}
