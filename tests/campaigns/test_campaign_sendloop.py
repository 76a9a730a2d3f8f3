"""The send loop's promises that a real worker keeps, as the SMTP server sees them: one
contact whose template fails gets nothing and stalls nobody, a template failing for most of a
round pauses the campaign, and a run held back by a slow rate keeps its lease and sends each
message as its own round read the contact."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from invites.accounts.models import Contact
from invites.campaigns import jobs, lifecycle
from invites.campaigns.models import Campaign, CampaignBatch, CampaignDelivery
from invites.core.config import Settings
from invites.core.db import db, utcnow

from ..support.campaigns import (
    Person,
    actor,
    make_campaign,
    people,
    received,
    seed,
    send_now,
    start_and_plan,
    status,
    tick,
    until_done,
)
from ..support.helpers import ROOT, env_for, is_postgresql, make_app, worker_process
from ..support.smtpd import SMTPSink
from ..support.wait import until

#: Passes the check on save (no sample or edge-case name is Zebediah), fails at send time
#: for every Zebediah: 10 // 0.
ZEBEDIAH_FAILS = (
    "News {% if first_name == 'Zebediah' %}{{ 10 // (first_name|length - 8) }}{% endif %}"
    "for {{ first_name }}"
)


def _rename(app: Flask, contact_ids: list[int], name: str) -> None:
    with app.app_context():
        db.session.execute(update(Contact).where(Contact.id.in_(contact_ids)).values(name=name))
        db.session.commit()
        db.session.remove()


def _rows(app: Flask, campaign_id: int) -> dict[int | None, tuple[str, str | None]]:
    """contact id → (status, reason)."""
    with app.app_context():
        found = db.session.execute(
            db.select(
                CampaignDelivery.contact_id, CampaignDelivery.status, CampaignDelivery.reason
            ).where(CampaignDelivery.campaign_id == campaign_id)
        ).all()
        db.session.remove()
    return {cid: (s, r) for cid, s, r in found}


def test_a_contact_whose_template_fails_gets_nothing_and_the_campaign_finishes(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    audience = [p for p in people(60) if p.gets("promotional")]
    ids = seed(camp, audience)
    bob = audience[5].email
    _rename(camp, [ids[bob]], "Zebediah Smith")
    campaign_id = make_campaign(camp, subject=ZEBEDIAH_FAILS)  # saved: the check passed it
    send_now(camp, campaign_id)

    done = worker_process(camp.config["SETTINGS"], "--queues", "mail,campaigns")

    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "@example.org" not in done.stderr  # the log names the ledger row, not the address
    if status(camp, campaign_id) != "done":
        until_done(camp, campaign_id)  # the planner's rest, if the first burst ended before
    got = received(smtp_sink)
    assert set(got) == {p.email for p in audience} - {bob}
    assert max(got.values()) == 1
    rows = _rows(camp, campaign_id)
    state, reason = rows[ids[bob]]
    assert state == "failed" and reason is not None and reason.startswith("render_failed")
    assert "ZeroDivisionError" in reason
    assert Counter(s for s, _ in rows.values()) == {"sent": len(audience) - 1, "failed": 1}
    assert status(camp, campaign_id) == "done"

    # Retryable: once what broke it is fixed (here the contact's name), retry sends it once.
    _rename(camp, [ids[bob]], "Bob Smith")
    with camp.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        assert lifecycle.retry_failed(db.session, campaign, actor(camp)) == 1
        db.session.commit()
        jobs.wake(campaign_id)
        db.session.remove()
    until_done(camp, campaign_id)
    assert received(smtp_sink)[bob] == 1
    assert Counter(s for s, _ in _rows(camp, campaign_id).values()) == {"sent": len(audience)}


def test_a_round_that_mostly_fails_to_render_pauses_the_campaign_and_says_why(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    audience = [p for p in people(60) if p.gets("promotional")]
    ids = seed(camp, audience)
    # Half of them are Zebediahs: far over the 20 % a round may fail by default.
    _rename(camp, [ids[p.email] for p in audience[::2]], "Zebediah Jones")
    campaign_id = make_campaign(camp, subject=ZEBEDIAH_FAILS)
    send_now(camp, campaign_id)

    done = worker_process(camp.config["SETTINGS"], "--queues", "mail,campaigns")

    assert done.returncode == 0, done.stderr[-3000:]
    assert status(camp, campaign_id) == "paused"
    with camp.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        reason = campaign.paused_reason or ""
        db.session.remove()
    assert "could not be rendered" in reason and "ZeroDivisionError" in reason
    rows = _rows(camp, campaign_id)
    failed = [r for s, r in rows.values() if s == "failed"]
    assert failed and all((r or "").startswith("render_failed") for r in failed)
    assert any(s == "queued" for s, _ in rows.values())  # the rest wait for a person
    # Each message that left is a sent row, and the pause stopped the run before everyone
    # whose message renders was mailed (how many went first depends on where rounds end).
    sent = [cid for cid, (s, _) in rows.items() if s == "sent"]
    assert len(smtp_sink.messages) == len(sent) < len(audience) - len(failed)


def _worker(app: Flask) -> subprocess.Popen[str]:
    """A long-running `invites worker`, in its own process group (to stop it whole)."""
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "invites"), "worker", "--queues", "mail,campaigns"],
        env=env_for(app.config["SETTINGS"]),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


@pytest.fixture()
def two_workers(camp: Flask) -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _lapsed_lease(app: Flask, campaign_id: int) -> bool:
    """Whether a batch of the campaign is running on a lease that ran out (the run stopped
    renewing it: the tick would hand the batch to another worker)."""
    with app.app_context():
        found = db.session.scalar(
            db.select(CampaignBatch.id).where(
                CampaignBatch.campaign_id == campaign_id,
                CampaignBatch.status == "running",
                CampaignBatch.leased_until < utcnow(),
            )
        )
        db.session.remove()
    return found is not None


def test_a_rate_limited_run_keeps_its_lease_and_sends_what_its_round_read(
    settings: Settings, app: Flask, smtp_sink: SMTPSink, two_workers: list[subprocess.Popen[str]]
) -> None:
    # 2 messages a second for 14 contacts: about 7 s, over three times the 2 s lease. Each
    # message is held 0.2 s at the server, so a lease that lapsed mid-send would be seen by
    # the second worker's takeover as a message left `sending`: recorded unknown.
    slow = make_app(
        dataclasses.replace(
            settings, smtp_url=smtp_sink.url, campaign_lease_seconds=2, retry_base_seconds=0
        )
    )
    audience = [Person(i, f"r{i}@example.org", "en", True, None, None) for i in range(1, 15)]
    ids = seed(slow, audience)
    campaign_id = make_campaign(slow, rate_per_second=2)
    smtp_sink.store_then_reply_late(0.2, times=1000)
    send_now(slow, campaign_id)
    two_workers += [_worker(slow), _worker(slow)]
    lapsed: list[float] = []

    def sent_some() -> bool:
        tick(slow)  # what the scheduler does: it would wake a batch whose lease ran out
        if _lapsed_lease(slow, campaign_id):
            lapsed.append(time.time())
        return len(smtp_sink.messages) >= 4

    until(sent_some, "the first messages at the slow rate", 60)
    # Between two rounds (the update waits for a round's row locks), everybody not yet mailed
    # moves to a new address: from here on, only new addresses may arrive.
    with slow.app_context():
        # Addresses are sealed (invites.core.atrest): each new one is sealed here, and the
        # first UPDATE of the transaction waits for the round's locks as one statement did.
        for contact in db.session.scalars(
            select(Contact).where(Contact.id.in_(list(ids.values()))).order_by(Contact.id)
        ):
            contact.email = "new-" + contact.email
        db.session.commit()
        db.session.remove()
    moved_at = time.time()

    def finished() -> bool:
        tick(slow)
        if _lapsed_lease(slow, campaign_id):
            lapsed.append(time.time())
        return status(slow, campaign_id) == "done"

    until(finished, "the campaign to finish at its slow rate", 90)

    assert not lapsed, "the run let its lease run out while it waited on the rate"
    rows = _rows(slow, campaign_id)
    assert Counter(s for s, _ in rows.values()) == {"sent": len(audience)}  # nothing unknown
    got = received(smtp_sink)
    assert max(got.values()) == 1
    if is_postgresql(settings.database_url):
        # The update waited for the round holding those contacts (SQLite holds no row locks,
        # so there a round may read a contact just before it changes).
        late_old = [
            m.rcpt_tos
            for m in smtp_sink.messages
            if m.received_at > moved_at and not all(r.startswith("new-") for r in m.rcpt_tos)
        ]
        assert not late_old, "a message built from an earlier round's reading went out later"
    for p in audience:  # each person once, at the address they had when their round read it
        assert got[p.email] + got["new-" + p.email] == 1, p.email
    assert any(r.startswith("new-") for r in got)


def test_a_run_taking_the_next_batches_claims_no_held_or_future_one_and_holds_a_late_one(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    audience = [p for p in people(260) if p.gets("promotional")]
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    start_and_plan(camp, campaign_id, whole=True)
    now = utcnow()
    with camp.app_context():
        batches = db.session.scalars(
            db.select(CampaignBatch)
            .where(CampaignBatch.campaign_id == campaign_id)
            .order_by(CampaignBatch.id)
        ).all()
        assert len(batches) >= 5
        first, held, future, late = batches[0], batches[1], batches[2], batches[3]
        held.status = "held"  # waits for a person's confirmation
        future.due_at = now + timedelta(hours=3)  # a later zone's hour
        # A group whose hour passed two hours ago, never woken (the service was down): the
        # tick would hold it when it woke it, and so must a run passing by.
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.started_at = campaign.scheduled_at = now - timedelta(hours=3)
        late.due_at, late.enqueued_at = now - timedelta(hours=2), None
        db.session.commit()
        ids = {"held": held.id, "future": future.id, "late": late.id}

        result = jobs.send_batch(first.id)

        states = {
            b.id: b.status
            for b in db.session.scalars(
                db.select(CampaignBatch).where(CampaignBatch.campaign_id == campaign_id)
            )
        }
        queued = set(
            db.session.scalars(
                db.select(CampaignDelivery.batch_id).where(
                    CampaignDelivery.campaign_id == campaign_id,
                    CampaignDelivery.status == "queued",
                )
            )
        )
        db.session.remove()
    assert states.pop(ids["held"]) == "held"
    assert states.pop(ids["future"]) == "pending"
    assert states.pop(ids["late"]) == "held"
    assert set(states.values()) == {"done"}
    assert queued == set(ids.values())  # none of theirs was sent
    assert f"{len(batches) - 3} batch(es) done" in result
    assert smtp_sink.messages
