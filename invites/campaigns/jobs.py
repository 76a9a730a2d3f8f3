"""Campaign jobs: plan a campaign, send a batch, and the tick that keeps campaigns moving.

All three are safe to run twice and on any number of workers: the planner skips contacts
already in the ledger, a batch is claimed by one live run at a time, and the tick only
enqueues work that a claim will sort out.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import LockError, RedisError
from redis.lock import Lock
from rq import get_current_job
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session

from invites.campaigns import late, planner
from invites.campaigns.models import BatchStatus, Campaign, CampaignBatch, CampaignStatus
from invites.campaigns.sendloop import BatchRun, Stop
from invites.core import queue
from invites.core.db import db, utcnow
from invites.delivery.jobs import transport

log = logging.getLogger(__name__)

PLAN_JOB = "invites.campaigns.jobs.plan_campaign"
BATCH_JOB = "invites.campaigns.jobs.send_batch"
#: A pending batch enqueued longer ago than this without being claimed is enqueued again.
REENQUEUE_AFTER = timedelta(seconds=60)
#: The planner's lock lives this long unless renewed, and it is renewed at every batch
#: planned: a worker killed while planning holds the campaign's planning up this long at most.
PLANNER_LOCK_SECONDS = 10


def _tag() -> str:
    job = get_current_job()
    return f"[job {job.id}] " if job else ""


def enqueue_batches(batch_ids: list[int]) -> None:
    """Wake workers for batches; a Redis outage is the tick's to make up for."""
    if not batch_ids:
        return
    now = utcnow()
    # A batch woken for the first time long after its hour waits for a person instead.
    grace = timedelta(seconds=current_app.config["SETTINGS"].campaign_late_grace_seconds)
    with db.engine.begin() as conn:
        batch_ids = late.hold(conn, batch_ids, now, grace)
    if not batch_ids:
        return
    if queue.enqueue_calls(BATCH_JOB, [(b,) for b in batch_ids], queue.CAMPAIGN_QUEUE):
        with db.engine.begin() as conn:
            conn.execute(
                update(CampaignBatch.__table__)
                .where(CampaignBatch.id.in_(batch_ids))
                .values(enqueued_at=now)
            )


def enqueue_plan(campaign_id: int) -> None:
    """Have the campaign planned now (the tick does it too, if this is lost)."""
    queue.enqueue_calls(PLAN_JOB, [(campaign_id,)], queue.CAMPAIGN_QUEUE)


def plan_campaign(campaign_id: int) -> str:
    """Write the campaign's ledger batch by batch, enqueueing each batch as it commits."""
    done = plan_slice(campaign_id)
    if done.more:
        enqueue_plan(campaign_id)  # after the lock is free, or it would find it taken
    return done.said


@dataclass(frozen=True)
class Planned:
    """What one planning slice did: said (for the job's result), batches made, more to plan."""

    said: str
    batches: int = 0
    more: bool = False


def plan_slice(campaign_id: int, *, from_a_run: bool = False) -> Planned:
    """Plan one slice of the campaign (planner.Slice); return what was done and whether some
    is left to plan. `from_a_run`: a batch run that ran out of batches plans the next slice
    itself and takes its batches, instead of ending and leaving a lone worker to switch jobs
    (a pause at each batch boundary); their batch jobs are then not enqueued."""
    settings = current_app.config["SETTINGS"]
    lock = queue.connection().lock(planner_lock(campaign_id), timeout=PLANNER_LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        return Planned("another planner runs")
    more = False
    try:
        # Read in a session of its own: a run that plans keeps its own session's objects.
        with Session(db.engine, expire_on_commit=False) as own:
            campaign = own.get(Campaign, campaign_id)
            if campaign is not None:
                own.expunge(campaign)
        if campaign is None or campaign.status not in (
            CampaignStatus.SENDING,
            CampaignStatus.PAUSED,
        ):
            return Planned("not sending")
        if campaign.planning_done:
            return Planned("planned already")
        planned = 0
        with db.engine.connect() as conn:
            size = settings.campaign_batch_size
            after = planner.planned_up_to(conn, campaign)
            # A slice at a time, the rest left to a job queued behind its batches: a lone
            # worker never stops sending for long to plan (planner.Slice).
            part = planner.Slice(campaign, after)
            for batch_id, due in planner.plan(conn, campaign, settings, size=size, after=after):
                planned += 1
                if due <= utcnow() and not from_a_run:
                    enqueue_batches([batch_id])  # later ones: the tick, when they are due
                if part.over() or not _renewed(lock):
                    more = True  # the rest by the next planning job (or the one that has it)
                    break
            if not more:
                conn.execute(
                    update(Campaign.__table__)
                    .where(Campaign.id == campaign_id)
                    .values(planning_done=True)
                )
            conn.commit()
        if more:
            log.info("%scampaign %s: %d batch(es) planned", _tag(), campaign_id, planned)
            return Planned(f"planned {planned} batch(es); the rest is queued", planned, True)
        log.info("%scampaign %s planned in %d batch(es)", _tag(), campaign_id, planned)
        if not from_a_run:
            finish_if_done(campaign_id)
        return Planned(f"planned {planned} batch(es)", planned)
    finally:
        with suppress(LockError, RedisError):  # ran out meanwhile, or Redis is away: it expires
            lock.release()


def planner_lock(campaign_id: int) -> str:
    """The Redis key of a campaign's planner lock (one planner at a time per campaign)."""
    return f"spotcam:campaign:{campaign_id}:planner"


def _renewed(lock: Lock) -> bool:
    """Give the planner lock its full time again; False if it ran out and is lost."""
    try:
        lock.reacquire()
    except (LockError, RedisError) as exc:
        # Stop here, with what was planned committed: planning again plans nobody twice.
        log.warning(
            "%splanner lock not renewed (%s): the rest is left to the next job",
            _tag(),
            type(exc).__name__,
        )
        return False
    return True


def send_batch(batch_id: int) -> str:
    """Send one batch's due contacts (then the campaign's next due ones, while time allows)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    run = BatchRun(
        app, batch_id, transport(), plan_more=lambda c: plan_slice(c, from_a_run=True).batches
    )
    tally = run.run()
    log.info("%sbatch %s: %s", _tag(), batch_id, tally)
    batch = db.session.get(CampaignBatch, run.batch_id)  # the batch the run ended in
    db.session.rollback()
    if batch is not None:
        if tally.stopped is Stop.TIME_BUDGET:
            enqueue_batches([run.batch_id])  # its turn again, after other campaigns' batches
        finish_if_done(batch.campaign_id)
    return str(tally)


def wake(campaign_id: int) -> int:
    """Enqueue a campaign's due batches now (after resume or retry); return how many."""
    ids = _stalled(campaign_id, utcnow(), fresh=True)
    enqueue_batches(ids)
    return len(ids)


def _stalled(campaign_id: int, now: datetime, fresh: bool = False) -> list[int]:
    """Due batches nobody runs: pending (not enqueued lately), or running on a dead lease."""
    recently = CampaignBatch.enqueued_at >= now - REENQUEUE_AFTER
    pending = CampaignBatch.status == BatchStatus.PENDING
    if not fresh:
        pending = and_(pending, or_(CampaignBatch.enqueued_at.is_(None), ~recently))
    ids = db.session.scalars(
        select(CampaignBatch.id).where(
            CampaignBatch.campaign_id == campaign_id,
            CampaignBatch.due_at <= now,
            or_(
                pending,
                and_(CampaignBatch.status == BatchStatus.RUNNING, CampaignBatch.leased_until < now),
            ),
        )
    ).all()
    db.session.rollback()
    return list(ids)


def finish_if_done(campaign_id: int) -> bool:
    """A sending campaign whose planning is over and whose batches are all done is done."""
    open_batches = exists(
        select(CampaignBatch.id).where(
            CampaignBatch.campaign_id == campaign_id, CampaignBatch.status != BatchStatus.DONE
        )
    )
    with db.engine.begin() as conn:
        done = conn.execute(
            update(Campaign.__table__)
            .where(
                Campaign.id == campaign_id,
                Campaign.status == CampaignStatus.SENDING,
                Campaign.planning_done.is_(True),
                ~open_batches,
            )
            .values(status=CampaignStatus.DONE, finished_at=utcnow())
        ).rowcount
    return bool(done)


def campaign_tick() -> str:
    """Start campaigns whose time came (or hold late ones), and re-wake stalled work."""
    settings = current_app.config["SETTINGS"]
    now = utcnow()
    grace = timedelta(seconds=settings.campaign_late_grace_seconds)
    started, held = [], 0
    due = db.session.scalars(
        select(Campaign.id).where(
            Campaign.status == CampaignStatus.SCHEDULED, Campaign.scheduled_at <= now
        )
    ).all()
    db.session.rollback()
    for campaign_id in due:
        outcome = _start_due(campaign_id, now, grace)
        if outcome == "started":
            started.append(campaign_id)
        held += outcome == "held"
    for campaign_id in started:
        enqueue_plan(campaign_id)
    sending = db.session.scalars(
        select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING)
    ).all()
    woken = 0
    for campaign_id in sending:
        current = db.session.get(Campaign, campaign_id)
        if current is not None and not current.planning_done:
            enqueue_plan(campaign_id)
        stalled = _stalled(campaign_id, now)
        enqueue_batches(stalled)
        woken += len(stalled)
        finish_if_done(campaign_id)
    if started or held or woken:
        log.info(
            "%scampaign tick: %d started, %d held, %d batch(es) woken",
            _tag(),
            len(started),
            held,
            woken,
        )
    return f"started {len(started)}, held {held}, woke {woken}"


def _start_due(campaign_id: int, now: datetime, grace: timedelta) -> str:
    """Start one scheduled campaign whose time has come, or hold it; commit. Return what
    happened: "started", "held", or "waits" (changed meanwhile, or not approved)."""
    from invites.campaigns import lifecycle

    settings = current_app.config["SETTINGS"]
    campaign = db.session.get(Campaign, campaign_id)
    try:
        if campaign is None:
            raise lifecycle.CampaignError("gone")
        # The same lock as a person's step: a Cancel or an edit that got there first wins.
        lifecycle.lock(db.session, campaign)
        if campaign.status != CampaignStatus.SCHEDULED or campaign.scheduled_at is None:
            raise lifecycle.CampaignError("no longer scheduled")
        if campaign.scheduled_at > now:
            raise lifecycle.CampaignError("rescheduled")
        # Edited since it was approved: it starts once the new version is approved.
        lifecycle.check_ready(db.session, campaign, settings)
    except lifecycle.CampaignError as exc:
        db.session.rollback()
        log.debug("campaign %s is not started now: %s", campaign_id, exc)
        return "waits"
    latest = campaign.scheduled_at
    if late.is_local(campaign):
        latest = planner.zone_dues(db.session.connection(), campaign, settings)[-1]
    if late.whole_campaign_late(latest, now, grace):
        # Its time passed long ago (the service was down, or a snapshot was restored
        # elsewhere): a person decides whether it should still go (listmonk #1801). A
        # local-time campaign with a zone still to come starts: only the zone groups whose
        # hour passed are held (late.hold, when their batches are first woken).
        campaign.status, campaign.updated_at = CampaignStatus.HELD, now
        outcome = "held"
    else:
        lifecycle.start(db.session, campaign, settings)
        outcome = "started"
    db.session.commit()
    return outcome
