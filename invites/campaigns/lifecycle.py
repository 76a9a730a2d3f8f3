"""What staff do to a campaign, each step checked and written to the audit log. No HTTP here.

draft ─schedule→ scheduled ─(its time)→ sending ⇄ paused → done
   └──send now────────────────────────↗     └→ cancelled (from any state but done)
scheduled ─(its time passed > CAMPAIGN_LATE_GRACE ago)→ held ─confirm→ sending
scheduled, held ─unschedule→ draft;  draft (never started) ─delete→ gone
done ─retry failed and unknown→ sending;  done, cancelled ─archive⇄ (out of the default list)
any ─duplicate→ a new draft with the same settings and content

Every step locks the campaign's row first and reads it afresh (invites.campaigns.locking), so
steps on one campaign happen one after the other, each seeing what the last one did, and the
audit log records them in that order. Given what the person's page showed (`seen`), a step
refuses a campaign that has changed since.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import update

from invites.campaigns import late
from invites.campaigns.drafting import (
    CAMPAIGN_CATEGORIES,
    EDITABLE,
    MARKETING_CATEGORIES,
    Actor,
    approve,
    audit_step,
    check_ready,
    create,
    editable,
    not_a_notice,
    save_content,
    update_settings,
)
from invites.campaigns.locking import CampaignError, Changed, Seen, lock
from invites.campaigns.models import (
    Anchor,
    BatchStatus,
    Campaign,
    CampaignBatch,
    CampaignDelivery,
    CampaignStatus,
    Delivery,
)
from invites.campaigns.undoing import archive, delete_draft, duplicate, unschedule
from invites.core.config import Settings
from invites.core.db import AnySession, db, utcnow

# The steps' whole vocabulary, so callers need only this module.
__all__ = [
    "CAMPAIGN_CATEGORIES",
    "EDITABLE",
    "MARKETING_CATEGORIES",
    "Actor",
    "CampaignError",
    "Changed",
    "Seen",
    "approve",
    "archive",
    "audit_step",
    "cancel",
    "check_ready",
    "confirm_late",
    "create",
    "delete_draft",
    "duplicate",
    "editable",
    "lock",
    "not_a_notice",
    "pause",
    "pause_for_failures",
    "resume",
    "retry_failed",
    "save_content",
    "schedule",
    "send_now",
    "start",
    "unschedule",
    "update_settings",
]


def schedule(
    session: AnySession,
    campaign: Campaign,
    actor: Actor,
    settings: Settings,
    *,
    at: datetime | None = None,
    local_date: date | None = None,
    local_time: str | None = None,
    default_zone: str = "UTC",
    seen: Seen | None = None,
) -> None:
    """Send at a moment (UTC), or at a wall-clock time in each contact's own zone."""
    lock(session, campaign, seen)
    editable(campaign)
    check_ready(session, campaign, settings)
    now = utcnow()
    if local_date is not None and local_time is not None:
        from invites.campaigns.planner import zone_dues

        campaign.anchor, campaign.local_date, campaign.local_time = (
            Anchor.LOCAL,
            local_date,
            local_time,
        )
        campaign.default_zone = default_zone
        # The hour in the earliest zone its audience has now (contacts without a zone count
        # in the default one): the campaign starts then, each later zone's group at its hour.
        dues = zone_dues(session.connection(), campaign, settings)
        if dues[-1] < now - timedelta(minutes=1):
            raise CampaignError(
                "that hour has passed in every zone of the audience; choose a later date"
            )
        # A group whose hour has already passed today goes at once; none is judged late.
        campaign.scheduled_at = max(dues[0], now)
    elif at is not None:
        if at < now - timedelta(minutes=1):
            raise CampaignError("that time has passed; choose a later one or send now")
        campaign.anchor, campaign.scheduled_at = Anchor.MOMENT, at
        campaign.local_date = campaign.local_time = None
    else:
        raise CampaignError("give a time, or a date and a local time")
    campaign.status, campaign.updated_at = CampaignStatus.SCHEDULED, now
    audit_step(
        session,
        actor,
        "schedule",
        campaign,
        anchor=campaign.anchor,
        at=campaign.scheduled_at.isoformat() if campaign.scheduled_at else None,
        local=f"{local_date} {local_time} (default {default_zone})" if local_time else None,
    )


def start(session: AnySession, campaign: Campaign, settings: Settings) -> None:
    """Begin sending: the planner (enqueued by the caller after commit) does the rest."""
    from invites.campaigns.planner import count_audience

    campaign.status, campaign.started_at = CampaignStatus.SENDING, campaign.started_at or utcnow()
    campaign.paused_reason = None
    campaign.audience_at_start = count_audience(session.connection(), campaign, settings)


def send_now(
    session: AnySession,
    campaign: Campaign,
    actor: Actor,
    settings: Settings,
    *,
    seen: Seen | None = None,
) -> None:
    """Send a draft or scheduled campaign now, to everybody (local time or not)."""
    lock(session, campaign, seen)
    if campaign.status == CampaignStatus.HELD:
        raise CampaignError("its time passed long ago: confirm it (send it now, late) or cancel")
    editable(campaign)
    check_ready(session, campaign, settings)
    campaign.anchor, campaign.scheduled_at = Anchor.MOMENT, utcnow()
    start(session, campaign, settings)
    audit_step(session, actor, "send", campaign, audience=campaign.audience_at_start)


def confirm_late(
    session: AnySession,
    campaign: Campaign,
    actor: Actor,
    settings: Settings,
    *,
    seen: Seen | None = None,
) -> int:
    """A held campaign, or the held zone groups of one that sends, go out after all, late,
    because a person said so. Return how many held batches were let go (0: it started)."""
    lock(session, campaign, seen)
    now = utcnow()
    if campaign.status == CampaignStatus.HELD:
        check_ready(session, campaign, settings)
        # From now on its groups are due as of this moment: none is judged late again.
        campaign.scheduled_at = now
        start(session, campaign, settings)
        audit_step(session, actor, "confirm_late", campaign)
        return 0
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.PAUSED):
        raise CampaignError("only a held campaign, or held zone groups, wait for confirmation")
    released = late.release(session.connection(), campaign.id, now)
    if not released:
        raise CampaignError("no zone group of this campaign waits for confirmation")
    campaign.updated_at = now
    audit_step(session, actor, "confirm_late", campaign, batches=released)
    return released


def pause(
    session: AnySession,
    campaign: Campaign,
    actor: Actor,
    reason: str | None = None,
    *,
    seen: Seen | None = None,
) -> None:
    """Stop sending after the messages now on the wire; nothing is skipped."""
    lock(session, campaign, seen)
    if campaign.status != CampaignStatus.SENDING:
        raise CampaignError(f"a {campaign.status} campaign can't be paused")
    campaign.status, campaign.paused_reason = CampaignStatus.PAUSED, reason
    campaign.updated_at = utcnow()
    audit_step(session, actor, "pause", campaign, reason=reason)


def resume(
    session: AnySession,
    campaign: Campaign,
    actor: Actor,
    settings: Settings,
    *,
    seen: Seen | None = None,
) -> None:
    """Carry on from where the ledger says it stopped (the caller enqueues the batches)."""
    lock(session, campaign, seen)
    if campaign.status != CampaignStatus.PAUSED:
        raise CampaignError(f"a {campaign.status} campaign can't be resumed")
    campaign.status, campaign.paused_reason = CampaignStatus.SENDING, None
    campaign.updated_at = utcnow()
    audit_step(session, actor, "resume", campaign)


def cancel(
    session: AnySession, campaign: Campaign, actor: Actor, *, seen: Seen | None = None
) -> None:
    """Stop for good; whoever wasn't reached yet won't be."""
    lock(session, campaign, seen)
    not_a_notice(campaign, "cancelled")
    if campaign.status in (CampaignStatus.DONE, CampaignStatus.CANCELLED):
        raise CampaignError(f"a {campaign.status} campaign can't be cancelled")
    campaign.status, campaign.updated_at = CampaignStatus.CANCELLED, utcnow()
    campaign.finished_at = utcnow()
    audit_step(session, actor, "cancel", campaign)


def retry_failed(
    session: AnySession, campaign: Campaign, actor: Actor, *, seen: Seen | None = None
) -> int:
    """Queue exactly the failed and unknown deliveries once more; return how many."""
    lock(session, campaign, seen)
    if campaign.status not in (CampaignStatus.DONE, CampaignStatus.PAUSED):
        raise CampaignError("retry once the campaign is done or paused")
    now = utcnow()
    ledger = CampaignDelivery.__table__
    rows = (
        session.execute(
            update(ledger)
            .where(
                ledger.c.campaign_id == campaign.id,
                ledger.c.status.in_([Delivery.FAILED, Delivery.UNKNOWN]),
                ledger.c.contact_id.is_not(None),
            )
            .values(status=Delivery.QUEUED, next_attempt_at=now, attempts=0, updated_at=now)
            .returning(ledger.c.batch_id)
        )
        .scalars()
        .all()
    )
    if rows:
        session.execute(
            update(CampaignBatch.__table__)
            .where(CampaignBatch.id.in_(set(rows)))
            .values(status=BatchStatus.PENDING, due_at=now, enqueued_at=None, finished_at=None)
        )
        campaign.status, campaign.finished_at = CampaignStatus.SENDING, None
    audit_step(session, actor, "retry", campaign, queued=len(rows))
    return len(rows)


def pause_for_failures(campaign_id: int, failures: int) -> None:
    """The campaign pauses itself after a run of failures, and says why (own transaction)."""
    with db.engine.begin() as conn:
        conn.execute(
            update(Campaign.__table__)
            .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SENDING)
            .values(
                status=CampaignStatus.PAUSED,
                paused_reason=f"paused itself after {failures} consecutive failed sends; "
                "check the SMTP relay and the failure reasons, then resume",
                updated_at=utcnow(),
            )
        )
