"""Campaign delivery, as the SMTP server sees it: exactly the eligible contacts, once each,
through pauses, a killed worker, two workers, 4xx bursts and unsubscribes mid-send.

Who should get a campaign is decided by the seeding rules in campaign_helpers (an oracle
written apart from the service), and what arrived is read from a real SMTP server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import psycopg
import pytest
from flask import Flask

from invites.campaigns import jobs, lifecycle
from invites.campaigns.models import Campaign, CampaignBatch, CampaignDelivery
from invites.core.config import Settings
from invites.core.db import db, utcnow
from invites.core.models import Suppression

from ..support.campaigns import (
    actor,
    ledger,
    make_campaign,
    people,
    seed,
    send_now,
    start_and_plan,
    status,
    step,
)
from ..support.campaigns import (
    burst as _burst,
)
from ..support.campaigns import (
    expected as _expected,
)
from ..support.campaigns import (
    received as _received,
)
from ..support.campaigns import (
    tick as _tick,
)
from ..support.campaigns import (
    until_done as _until_done,
)
from ..support.helpers import make_app, terminate_backends
from ..support.processes import Processes
from ..support.smtpd import SMTPSink


def test_exactly_the_eligible_contacts_once_each(camp: Flask, smtp_sink: SMTPSink) -> None:
    audience = people(500)
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    send_now(camp, campaign_id)

    _until_done(camp, campaign_id)

    got = _received(smtp_sink)
    assert set(got) == _expected(audience)
    assert max(got.values()) == 1
    # In the recipient's language, personalised, with a one-click header carrying no address.
    first = {m.rcpt_tos[0]: m for m in smtp_sink.messages}
    ru = next(p for p in audience if p.locale == "ru" and p.gets("promotional"))
    en = next(p for p in audience if p.locale == "en" and p.gets("promotional"))
    assert first[ru.email].message["Subject"] == f"Новости для Person{ru.n}"
    assert first[en.email].message["Subject"] == f"News for Person{en.n}"
    header = first[en.email].message["List-Unsubscribe"]
    assert header.startswith("<https://mail.spotcam.test/p/") and "example.org" not in header
    assert first[en.email].message["Message-ID"].startswith(f"<campaign-{campaign_id}.")
    states = Counter(ledger(camp, campaign_id).values())
    assert states == {"sent": len(_expected(audience))}


def test_a_locale_and_partner_offers_narrow_the_audience(camp: Flask, smtp_sink: SMTPSink) -> None:
    audience = people(200)
    seed(camp, audience)
    campaign_id = make_campaign(
        camp, category="partner_offers", locale="ru", partner_name="Lens & Co"
    )
    send_now(camp, campaign_id)

    _until_done(camp, campaign_id)

    assert set(_received(smtp_sink)) == _expected(audience, "partner_offers", "ru")
    html = smtp_sink.messages[0].html or ""
    assert "Lens &amp; Co" in html  # the partner is named, escaped


def _wait(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_a_worker_killed_mid_batch_loses_nobody_and_sends_nobody_twice(
    camp: Flask, smtp_sink: SMTPSink, processes: Processes
) -> None:
    audience = people(300)
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    smtp_sink.store_then_reply_late(0.02, times=10_000)  # slow enough to kill it mid-batch
    send_now(camp, campaign_id)
    settings = camp.config["SETTINGS"]
    first = processes.start(settings, "worker", "--queues", "mail,campaigns")
    _wait(lambda: len(smtp_sink.messages) >= 60, "the first worker to send some")

    first.kill()  # parent and work-horse, mid-batch
    before = len(smtp_sink.messages)
    _wait(lambda: not _leased(camp, campaign_id), "the dead run's lease (2 s here) to run out")
    _tick(camp)
    _until_done(camp, campaign_id)

    got = _received(smtp_sink)
    expected = _expected(audience)
    states = Counter(ledger(camp, campaign_id).values())
    assert max(got.values()) == 1, "someone got two copies"
    assert set(got) == expected, "someone was skipped (or mailed who shouldn't be)"
    # At most the one message on the wire when it died is unknown; it arrived, and was not
    # sent again.
    assert states["unknown"] <= 1
    assert states["sent"] + states["unknown"] == len(expected)
    assert before < len(expected)


@pytest.mark.postgresql
def test_no_message_is_handed_over_before_its_sending_mark_is_committed(
    camp: Flask, smtp_sink: SMTPSink, processes: Processes
) -> None:
    # The worker starts a message's `sending` commit as its envelope goes out and waits for
    # it before DATA. Hold one ledger row's lock so that commit can't finish: the server must
    # get that contact's envelope and nothing more until the lock is let go.
    audience = [p for p in people(60) if p.gets("promotional")]
    ids = seed(camp, audience)
    campaign_id = make_campaign(camp)
    start_and_plan(camp, campaign_id)  # the first batch's ledger rows exist from here
    held = sorted(_expected(audience), key=ids.__getitem__)[4]
    url = camp.config["SETTINGS"].database_url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url) as holder:
        row = holder.execute(
            "SELECT id FROM campaign_deliveries WHERE campaign_id = %s AND contact_id = %s "
            "FOR UPDATE",
            (campaign_id, ids[held]),
        ).fetchone()
        assert row is not None
        processes.start(camp.config["SETTINGS"], "worker", "--queues", "mail,campaigns")
        _wait(lambda: held in smtp_sink.accepted_rcpts, "the held contact's envelope")
        time.sleep(1.0)
        assert _received(smtp_sink)[held] == 0, "content left before its sending mark"
        assert len(smtp_sink.messages) == 4  # the four before it, and nothing after
        holder.rollback()
    _wait(lambda: status(camp, campaign_id) == "done", "the campaign to finish", 60)

    got = _received(smtp_sink)
    assert got[held] == 1 and max(got.values()) == 1
    assert set(got) == _expected(audience)
    assert set(ledger(camp, campaign_id).values()) == {"sent"}


@pytest.mark.postgresql
def test_connections_terminated_mid_campaign_lose_nobody_and_send_nobody_twice(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    # While the server takes in the twelfth message, every database connection is cut (a
    # failover): the ledger's, the round's locks and the app's. The run dies of it; the
    # next finishes the campaign. The one message whose outcome was lost is unknown.
    audience = people(200)
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    url = camp.config["SETTINGS"].database_url
    assert url is not None
    killed: list[int] = []
    smtp_sink.store_then_reply_late(0.0, times=11)
    smtp_sink.store_then_run(lambda: killed.append(terminate_backends(url)))
    send_now(camp, campaign_id)

    for _ in range(10):
        with contextlib.suppress(AssertionError):  # the burst that lost its database fails
            _burst(camp)
        with camp.app_context():
            db.engine.dispose()  # this process's pooled connections were cut too
        if status(camp, campaign_id) == "done":
            break
        _wait(lambda: not _leased(camp, campaign_id), "the dead run's lease (2 s here) to run out")
        _tick(camp)

    assert killed and killed[0] >= 1
    assert status(camp, campaign_id) == "done"
    got = _received(smtp_sink)
    expected = _expected(audience)
    assert max(got.values()) == 1, "someone got two copies"
    assert set(got) == expected, "someone was skipped (or mailed who shouldn't be)"
    states = Counter(ledger(camp, campaign_id).values())
    assert states["unknown"] == 1, states  # the one whose 250 the dead run could not record
    assert states["sent"] + states["unknown"] == len(expected)


def test_one_run_takes_the_campaigns_next_batches_but_never_one_another_holds(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    audience = [p for p in people(200) if p.gets("promotional")]
    ids = seed(camp, audience)
    campaign_id = make_campaign(camp)
    start_and_plan(camp, campaign_id, whole=True)
    with camp.app_context():
        batches = db.session.scalars(
            db.select(CampaignBatch)
            .where(CampaignBatch.campaign_id == campaign_id)
            .order_by(CampaignBatch.id)
        ).all()
        assert len(batches) >= 4
        # Another worker holds the second batch, on a live lease.
        held = batches[1]
        held.status, held.lease_token = "running", "another-worker"
        held.leased_until = utcnow() + timedelta(minutes=5)
        held_range = (held.first_contact_id, held.last_contact_id)
        db.session.commit()
        first, held_id = batches[0].id, held.id

        result = jobs.send_batch(first)  # one job

        assert f"{len(batches) - 1} batch(es) done" in result
        states = {
            b.id: (b.status, b.lease_token)
            for b in db.session.scalars(
                db.select(CampaignBatch).where(CampaignBatch.campaign_id == campaign_id)
            )
        }
        db.session.remove()
    assert states.pop(held_id) == ("running", "another-worker")
    assert {status for status, _ in states.values()} == {"done"}
    lo, hi = held_range
    in_held = {e for e in _expected(audience) if lo <= ids[e] <= hi}
    got = _received(smtp_sink)
    assert in_held and set(got) == _expected(audience) - in_held
    assert max(got.values()) == 1
    held_rows = {
        cid: s
        for cid, s in ledger(camp, campaign_id).items()
        if cid in ids.values() and lo <= (cid or 0) <= hi
    }
    assert set(held_rows.values()) == {"queued"}


def _leased(app: Flask, campaign_id: int) -> bool:
    """Whether a run's lease on one of the campaign's batches still holds."""
    with app.app_context():
        found = db.session.scalar(
            db.select(CampaignBatch.id).where(
                CampaignBatch.campaign_id == campaign_id,
                CampaignBatch.status == "running",
                CampaignBatch.leased_until >= utcnow(),
            )
        )
        db.session.remove()
    return found is not None


def _running(app: Flask, campaign_id: int) -> bool:
    """Whether a run holds one of the campaign's batches."""
    with app.app_context():
        found = db.session.scalar(
            db.select(CampaignBatch.id).where(
                CampaignBatch.campaign_id == campaign_id, CampaignBatch.status == "running"
            )
        )
        db.session.remove()
    return found is not None


def test_five_pause_resume_cycles(camp: Flask, smtp_sink: SMTPSink, processes: Processes) -> None:
    audience = people(300)
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    smtp_sink.store_then_reply_late(0.01, times=10_000)
    send_now(camp, campaign_id)
    processes.start(camp.config["SETTINGS"], "worker", "--queues", "mail,campaigns")
    for cycle in range(5):

        def sent_this_cycle(c: int = cycle) -> bool:
            return len(smtp_sink.messages) >= 30 * (c + 1)

        _wait(sent_this_cycle, f"sends before pause {cycle}")
        with camp.app_context():
            campaign = db.session.get(Campaign, campaign_id)
            assert campaign is not None
            lifecycle.pause(db.session, campaign, actor(camp))
            db.session.commit()
        # The run in progress sees the pause, ends its round and gives its batch back.
        _wait(lambda: not _running(camp, campaign_id), f"the run to stop for pause {cycle}")
        paused_at = len(smtp_sink.messages)
        time.sleep(0.5)  # a window in which nothing may arrive, not a wait for something
        assert len(smtp_sink.messages) == paused_at, "mail left a paused campaign"
        with camp.app_context():
            campaign = db.session.get(Campaign, campaign_id)
            assert campaign is not None
            lifecycle.resume(db.session, campaign, actor(camp), camp.config["SETTINGS"])
            db.session.commit()
            jobs.wake(campaign_id)
    _wait(lambda: status(camp, campaign_id) == "done", "the campaign to finish", 120)

    got = _received(smtp_sink)
    assert set(got) == _expected(audience) and max(got.values()) == 1


def test_a_pause_between_two_batches_holds(camp: Flask, smtp_sink: SMTPSink) -> None:
    # A run going on to its campaign's next batch took it without looking at the campaign,
    # and sent for up to STATUS_EVERY_SECONDS after a pause that had returned (CI: 5 messages
    # after the run's batch had settled). The pause lands as the first batch's last message
    # is on the wire.
    audience = people(300)
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    start_and_plan(camp, campaign_id, whole=True)
    with camp.app_context():
        batches = db.session.scalars(
            db.select(CampaignBatch.id)
            .where(CampaignBatch.campaign_id == campaign_id)
            .order_by(CampaignBatch.id)
        ).all()
        first_batch = db.session.scalar(
            db.select(db.func.count()).where(CampaignDelivery.batch_id == batches[0])
        )
        db.session.remove()
    assert len(batches) >= 2 and first_batch

    def pause_at_the_last_of_the_first() -> None:
        if len(smtp_sink.messages) == first_batch:
            step(camp, campaign_id, lambda c: lifecycle.pause(db.session, c, actor(camp)))

    smtp_sink.store_then_run(pause_at_the_last_of_the_first, times=10_000)
    with camp.app_context():
        jobs.send_batch(batches[0])
    assert len(smtp_sink.messages) == first_batch
    assert status(camp, campaign_id) == "paused"
    with camp.app_context():
        states = db.session.scalars(
            db.select(CampaignBatch.status).where(CampaignBatch.id.in_(batches[1:]))
        ).all()
    assert set(states) == {"pending"}  # untouched, for the resume


def test_two_workers_share_the_batches(
    camp: Flask, smtp_sink: SMTPSink, processes: Processes
) -> None:
    audience = people(400)
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    smtp_sink.store_then_reply_late(0.005, times=10_000)
    send_now(camp, campaign_id)
    for _ in range(2):
        processes.start(camp.config["SETTINGS"], "worker", "--queues", "mail,campaigns")

    _wait(lambda: status(camp, campaign_id) == "done", "the campaign to finish", 120)

    got = _received(smtp_sink)
    assert set(got) == _expected(audience) and max(got.values()) == 1
    assert smtp_sink.connections >= 2  # both took part


def test_4xx_bursts_retry_and_deliver_once(camp: Flask, smtp_sink: SMTPSink) -> None:
    audience = people(60)
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    smtp_sink.fail_next(451, "4.3.0 try again later", times=8, on="RCPT")
    send_now(camp, campaign_id)

    _until_done(camp, campaign_id)

    got = _received(smtp_sink)
    assert set(got) == _expected(audience) and max(got.values()) == 1


@pytest.mark.parametrize(
    "reply, suppressed",
    [("550 5.1.1 no such user", True), ("550 5.7.1 message refused as spam", False)],
)
def test_a_dead_address_is_suppressed_a_policy_refusal_is_not(
    camp: Flask, smtp_sink: SMTPSink, reply: str, suppressed: bool
) -> None:
    audience = [p for p in people(30) if p.gets("promotional")][:5]
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    code, text = reply.split(" ", 1)
    smtp_sink.fail_next(int(code), text, on="RCPT")
    send_now(camp, campaign_id)

    _until_done(camp, campaign_id)

    states = Counter(ledger(camp, campaign_id).values())
    assert states == {"failed": 1, "sent": len(audience) - 1}
    with camp.app_context():
        reasons = list(db.session.scalars(db.select(Suppression.reason)))
    assert ("hard_bounce" in reasons) is suppressed


def test_a_run_of_failures_pauses_the_campaign_and_says_why(
    settings: Settings, app: Flask, smtp_sink: SMTPSink
) -> None:
    camp = make_app(
        dataclasses.replace(settings, smtp_url=smtp_sink.url, campaign_max_consecutive_failures=5)
    )
    seed(camp, [p for p in people(60) if p.gets("promotional")])
    campaign_id = make_campaign(camp)
    smtp_sink.fail_next(554, "5.7.1 relay access denied", times=100, on="RCPT")
    send_now(camp, campaign_id)

    _burst(camp)

    assert status(camp, campaign_id) == "paused"
    with camp.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None and "consecutive failed sends" in (campaign.paused_reason or "")
    states = Counter(ledger(camp, campaign_id).values())
    assert states["failed"] == 5 and states["queued"] > 0  # the rest wait, not skipped


def test_the_retry_action_sends_exactly_the_failed_and_unknown_once(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    audience = [p for p in people(40) if p.gets("promotional")]
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    smtp_sink.fail_next(554, "5.3.0 temporary local problem", times=2, on="RCPT")
    smtp_sink.store_then_drop()
    send_now(camp, campaign_id)
    _until_done(camp, campaign_id)
    states = Counter(ledger(camp, campaign_id).values())
    assert states["failed"] == 2 and states["unknown"] == 1
    first_round = _received(smtp_sink)

    with camp.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        assert lifecycle.retry_failed(db.session, campaign, actor(camp)) == 3
        db.session.commit()
        jobs.wake(campaign_id)
    _until_done(camp, campaign_id)

    second_round = _received(smtp_sink) - first_round
    assert sum(second_round.values()) == 3
    assert Counter(ledger(camp, campaign_id).values()) == {"sent": len(audience)}
