"""Progress at a constant cost: per-status counts kept by triggers always equal the ledger, and a
poll reads the counters, never the ledger; the planner plans in slices a lone worker sends
between."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import func, select, text

from invites.campaigns import jobs, lifecycle, planner, progress
from invites.campaigns.models import (
    Campaign,
    CampaignBatch,
    CampaignDelivery,
    CampaignProgress,
    Delivery,
)
from invites.core import queue
from invites.core.db import db

from ..support.campaigns import (
    actor,
    expected,
    ledger,
    make_campaign,
    people,
    received,
    seed,
    send_now,
    status,
    tick,
    until_done,
)
from ..support.processes import Process, Processes
from ..support.smtpd import SMTPSink
from ..support.wait import until


def _counts(app: Flask, campaign_id: int) -> tuple[dict[str, int], dict[str, int]]:
    """(the counters' sums, a GROUP BY over the ledger), read in one transaction."""
    with app.app_context():
        kept = progress.counts(db.session, campaign_id)
        counted = progress.ledger_counts(db.session, campaign_id)
        db.session.remove()
    return kept, counted


def _agree(app: Flask, campaign_id: int) -> dict[str, int]:
    kept, counted = _counts(app, campaign_id)
    assert kept == counted
    return kept


def _campaign_worker(processes: Processes, app: Flask) -> Process:
    """A long-running campaign worker as the README runs it."""
    return processes.start(app.config["SETTINGS"], "worker", "--simple", "--queues", "campaigns")


def _leased(app: Flask, campaign_id: int) -> bool:
    with app.app_context():
        found = db.session.scalar(
            select(func.count()).where(
                CampaignBatch.campaign_id == campaign_id,
                CampaignBatch.status == "running",
                CampaignBatch.leased_until >= func.now()
                if db.engine.dialect.name == "postgresql"
                else CampaignBatch.leased_until >= func.datetime("now"),
            )
        )
        db.session.remove()
    return bool(found)


def test_counts_equal_the_ledger_through_a_killed_worker_failures_unknowns_and_a_retry(
    camp: Flask, smtp_sink: SMTPSink, processes: Processes
) -> None:
    audience = people(300)
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    smtp_sink.fail_next(554, "5.3.0 temporary local problem", times=3, on="RCPT")
    smtp_sink.store_then_drop()  # one handed over in full, no reply: unknown
    smtp_sink.store_then_reply_late(0.02, times=10_000)  # slow enough to kill it mid-batch
    send_now(camp, campaign_id)
    # Two workers at once, so that two connections write the counters side by side.
    workers = [_campaign_worker(processes, camp) for _ in range(2)]
    until(lambda: len(smtp_sink.messages) >= 60, "the workers to send some", seconds=60)

    for worker in workers:
        worker.kill()  # parents and all, mid-batch
    mid = _agree(camp, campaign_id)  # a row left `sending` by the dead run counts as such
    assert mid["queued"] > 0 and mid["sent"] > 0
    until(lambda: not _leased(camp, campaign_id), "the dead runs' leases to run out", seconds=30)
    tick(camp)
    until_done(camp, campaign_id)

    done = _agree(camp, campaign_id)
    assert done["failed"] == 3 and done["unknown"] >= 1 and done["queued"] == 0
    assert done["sending"] == 0
    assert sum(done.values()) == len(expected(audience))

    with camp.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        retried = lifecycle.retry_failed(db.session, campaign, actor(camp))
        db.session.commit()
    assert retried == done["failed"] + done["unknown"]
    assert _agree(camp, campaign_id)["queued"] == retried
    with camp.app_context():
        jobs.wake(campaign_id)
    until_done(camp, campaign_id)

    final = _agree(camp, campaign_id)
    assert final == {**{s.value: 0 for s in Delivery}, "sent": len(expected(audience))}
    assert max(received(smtp_sink).values()) <= 2  # the unknown ones may have come twice
    # What the progress JSON says is what the ledger says.
    with camp.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        shown = progress.progress(db.session, camp, campaign)
        assert (
            shown.counts == final and shown.percent == 100.0 and shown.total == sum(final.values())
        )


def test_erasing_a_contact_or_deleting_a_campaign_keeps_the_counts_true(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    audience = [p for p in people(60) if p.gets("promotional")]
    ids = seed(camp, audience)
    kept_id, gone_id = make_campaign(camp), make_campaign(camp)
    for campaign_id in (kept_id, gone_id):
        send_now(camp, campaign_id)
    until_done(camp, kept_id)
    until_done(camp, gone_id)
    with camp.app_context():
        # Erasure keeps the ledger rows without their contact: the counts don't change.
        db.session.execute(
            text("DELETE FROM contacts WHERE id = :id"), {"id": ids[audience[0].email]}
        )
        db.session.commit()
    assert _agree(camp, kept_id)["sent"] == len(audience)
    assert None in ledger(camp, kept_id)

    with camp.app_context():
        gone = db.session.get(Campaign, gone_id)
        db.session.delete(gone)
        db.session.commit()
        left = db.session.scalar(
            select(func.count()).where(CampaignProgress.campaign_id == gone_id)
        )
        db.session.remove()
    assert left == 0
    assert _agree(camp, kept_id)["sent"] == len(audience)


@pytest.mark.postgresql
def test_a_progress_poll_reads_no_ledger_row(camp: Flask, smtp_sink: SMTPSink) -> None:
    audience = [p for p in people(100) if p.gets("promotional")]
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    send_now(camp, campaign_id)
    until_done(camp, campaign_id)
    with camp.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        # This transaction's own table statistics: what the poll read, counted by PostgreSQL.
        shown = progress.progress_of(db.session, camp, [campaign])[0][1]
        scans = db.session.execute(
            text(
                "SELECT relname, coalesce(seq_scan, 0) + coalesce(idx_scan, 0) "
                "FROM pg_stat_xact_user_tables "
                "WHERE relname IN ('campaign_deliveries', 'campaign_progress')"
            )
        ).all()
        db.session.rollback()
    assert shown.counts["sent"] == len(audience)
    read: dict[str, int] = {str(name): int(n) for name, n in scans}
    assert read.get("campaign_deliveries", 0) == 0
    assert read["campaign_progress"] >= 1


def test_the_console_list_and_its_bars_read_the_counters(camp: Flask, smtp_sink: SMTPSink) -> None:
    audience = [p for p in people(40) if p.gets("promotional")]
    seed(camp, audience)
    first, second = make_campaign(camp), make_campaign(camp)
    send_now(camp, first)
    until_done(camp, first)
    with camp.app_context():
        rows = db.session.scalars(select(Campaign).where(Campaign.id.in_([first, second]))).all()
        listed = {c.id: p for c, p in progress.progress_of(db.session, camp, rows)}
        by_id = progress.counts_of(db.session, [first, second])
        db.session.remove()
    assert listed[first].counts["sent"] == len(audience) and listed[first].percent == 100.0
    assert listed[second].total == 0 and sum(by_id[second].values()) == 0


def test_a_counter_column_for_every_delivery_status_and_the_migration_agrees(
    app: Flask,
) -> None:
    columns = {c.name for c in CampaignProgress.__table__.columns} - {"campaign_id", "shard"}
    assert columns == {s.value for s in Delivery}
    ours = {"campaign_progress", "campaign_batches"}
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [
            d for d in compare_metadata(context, db.metadata) if any(n in repr(d) for n in ours)
        ]
    assert diff == []


def test_the_planner_plans_in_slices_with_the_batches_between(
    camp: Flask, smtp_sink: SMTPSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    audience = [p for p in people(300) if p.gets("promotional")]
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    monkeypatch.setattr(planner, "SLICE_SECONDS", 0.0)  # one batch a slice: 40 contacts
    campaign_queue = queue.queue(queue.CAMPAIGN_QUEUE, camp)
    planned: list[int] = []
    with camp.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        lifecycle.send_now(db.session, campaign, actor(camp), camp.config["SETTINGS"])
        db.session.commit()
        for _ in range(100):
            campaign_queue.empty()
            answer = jobs.plan_campaign(campaign_id)
            db.session.remove()
            batches = db.session.scalar(
                select(func.count()).where(CampaignBatch.campaign_id == campaign_id)
            )
            planned.append(int(batches or 0) - sum(planned))
            campaign = db.session.get(Campaign, campaign_id)
            assert campaign is not None
            if campaign.planning_done:
                break
            # Its batch went to the queue first, then the planning that is left.
            assert "the rest is queued" in answer
            queued = [job.func_name for job in campaign_queue.jobs]
            assert queued == [jobs.BATCH_JOB, jobs.PLAN_JOB]
        assert campaign.planning_done
        rows = db.session.scalar(
            select(func.count()).where(CampaignDelivery.campaign_id == campaign_id)
        )
        db.session.remove()
    whole = -(-len(audience) // 40)
    assert planned == [1] * whole + [0]  # a slice each, then the job that finds no one left
    assert rows == len(audience)  # nobody planned twice, nobody left out


def test_a_slice_ends_after_its_time_and_only_for_one_moment_campaigns() -> None:
    moment = Campaign(anchor="moment")
    local = Campaign(anchor="local")
    assert planner.Slice(moment, after=0).over()  # the first batch alone
    assert not planner.Slice(moment, after=5, seconds=60).over()
    assert planner.Slice(moment, after=5, seconds=0).over()
    assert not planner.Slice(local, after=0, seconds=0).over()


def test_a_lone_worker_finishes_a_sliced_plan(
    camp: Flask, smtp_sink: SMTPSink, processes: Processes
) -> None:
    audience = people(600)
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    send_now(camp, campaign_id)
    _campaign_worker(processes, camp)
    until(lambda: status(camp, campaign_id) == "done", "the campaign to finish", seconds=120)
    got = received(smtp_sink)
    assert set(got) == expected(audience) and max(got.values()) == 1
    assert _agree(camp, campaign_id)["sent"] == len(expected(audience))
