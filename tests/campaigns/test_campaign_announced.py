"""The next message announced (its envelope written behind the current content, its `sending`
mark committed with the current outcome) and then held back by a pause: nothing of it is
delivered, its mark goes back to `queued`, and the resume sends it once — never `unknown`."""

from __future__ import annotations

from collections import Counter

import pytest
from flask import Flask

from invites.campaigns import jobs, lifecycle, sendloop
from invites.campaigns.models import CampaignDelivery
from invites.core.db import db

from ..support.campaigns import (
    actor,
    ledger,
    make_campaign,
    people,
    received,
    seed,
    start_and_plan,
    status,
    step,
)
from ..support.smtpd import SMTPSink

PAUSE_AFTER = 7


def test_a_pause_after_the_next_message_was_announced_takes_its_mark_back(
    camp: Flask, smtp_sink: SMTPSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run looks at the campaign before every message, so the pause is seen right after
    # the reply it lands under, whatever the machine's speed.
    monkeypatch.setattr(sendloop, "STATUS_EVERY_SECONDS", 0.0)
    audience = [p for p in people(60) if p.gets("promotional")]
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    start_and_plan(camp, campaign_id)
    with camp.app_context():
        first_batch = db.session.scalar(
            db.select(db.func.min(CampaignDelivery.batch_id)).where(
                CampaignDelivery.campaign_id == campaign_id
            )
        )
        db.session.remove()

    def pause_under_the_seventh_reply() -> None:
        # Runs with message 7 stored and its reply not yet sent: the worker has announced
        # message 8 behind it, and commits 8's `sending` mark once 7's reply comes.
        if len(smtp_sink.messages) == PAUSE_AFTER:
            step(camp, campaign_id, lambda c: lifecycle.pause(db.session, c, actor(camp)))

    smtp_sink.store_then_run(pause_under_the_seventh_reply, times=10_000)
    with camp.app_context():
        jobs.send_batch(first_batch)

    assert len(smtp_sink.messages) == PAUSE_AFTER
    assert status(camp, campaign_id) == "paused"
    # The eighth envelope was announced (its recipient accepted) and no content followed.
    eighth = smtp_sink.accepted_rcpts[PAUSE_AFTER]
    assert eighth not in received(smtp_sink)
    states = Counter(ledger(camp, campaign_id).values())
    assert states["sent"] == PAUSE_AFTER
    assert "sending" not in states and "unknown" not in states
    with camp.app_context():
        rows = db.session.execute(
            db.select(CampaignDelivery.status, CampaignDelivery.attempts).where(
                CampaignDelivery.campaign_id == campaign_id,
                CampaignDelivery.status == "queued",
            )
        ).all()
        db.session.remove()
    assert rows and {attempts for _, attempts in rows} == {0}  # the taken-back mark too

    settings = camp.config["SETTINGS"]
    step(camp, campaign_id, lambda c: lifecycle.resume(db.session, c, actor(camp), settings))
    with camp.app_context():
        jobs.send_batch(first_batch)
    got = received(smtp_sink)
    assert got[eighth] == 1 and max(got.values()) == 1
    with camp.app_context():
        first = db.session.scalars(
            db.select(CampaignDelivery.status).where(CampaignDelivery.batch_id == first_batch)
        ).all()
        db.session.remove()
    assert set(first) == {"sent"}
