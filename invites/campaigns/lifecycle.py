"""What staff do to a campaign, each step checked and written to the audit log. No HTTP here.

draft ─schedule→ scheduled ─(its time)→ sending ⇄ paused → done
   └──send now────────────────────────↗     └→ cancelled (from any state but done)
scheduled ─(its time passed > CAMPAIGN_LATE_GRACE ago)→ held ─confirm→ sending
done ─retry failed and unknown→ sending
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from invites.accounts.categories import CATEGORIES
from invites.campaigns.models import (
    Anchor,
    BatchStatus,
    Campaign,
    CampaignBatch,
    CampaignContent,
    CampaignDelivery,
    CampaignStatus,
    Delivery,
)
from invites.core import audit
from invites.core.config import Settings
from invites.core.db import AnySession, db, utcnow
from mailer.authoring import Draft

#: States in which the content and settings may still change.
EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.HELD)
MARKETING_CATEGORIES = tuple(name for name, c in CATEGORIES.items() if c.can_opt_out)


class CampaignError(ValueError):
    """A step that isn't possible now; the message says why, for the person who tried."""


@dataclass(frozen=True)
class Actor:
    """Who does something: a staff user (id and email), or an operator at the CLI."""

    id: int | None
    email: str
    ip: str | None = None


def audit_step(
    session: AnySession, actor: Actor, action: str, campaign: Campaign, **detail: Any
) -> None:
    """Write one step on a campaign to the audit log as campaign.<action>."""
    audit.record(
        session,
        actor=actor,
        action=f"campaign.{action}",
        target_type="campaign",
        target_id=str(campaign.id),
        detail=detail or None,
        ip=actor.ip,
    )


def _check_category(category: str, partner_name: str | None) -> None:
    if category not in MARKETING_CATEGORIES:
        raise CampaignError(f"category must be one of {', '.join(MARKETING_CATEGORIES)}")
    if CATEGORIES[category].opt_in_only and not (partner_name or "").strip():
        raise CampaignError("a partner offer names the partner it is sent for")


def create(
    session: AnySession,
    actor: Actor,
    *,
    name: str,
    category: str,
    partner_name: str | None = None,
    locale: str | None = None,
    sender: str | None = None,
    rate_per_second: int | None = None,
) -> Campaign:
    """Start a draft."""
    if not name.strip():
        raise CampaignError("a campaign needs a name")
    _check_category(category, partner_name)
    now = utcnow()
    campaign = Campaign(
        name=name.strip(),
        category=category,
        partner_name=(partner_name or "").strip() or None,
        locale=locale,
        sender=sender,
        rate_per_second=rate_per_second,
        status=CampaignStatus.DRAFT,
        created_by=actor.id,
        edited_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    session.flush()
    audit_step(session, actor, "create", campaign, name=campaign.name, category=category)
    return campaign


def _editable(campaign: Campaign) -> None:
    if campaign.status not in EDITABLE:
        raise CampaignError(f"a {campaign.status} campaign can't be edited")


def _edited(session: AnySession, campaign: Campaign, actor: Actor) -> None:
    # Any change voids an approval: the second person approved what they saw, not this.
    campaign.version += 1
    campaign.approved_version = campaign.approved_by = campaign.approved_at = None
    campaign.edited_by, campaign.updated_at = actor.id, utcnow()


def update_settings(session: AnySession, campaign: Campaign, actor: Actor, **fields: Any) -> None:
    """Change name, category, partner, locale, sender or rate (a draft or scheduled one)."""
    _editable(campaign)
    allowed = {"name", "category", "partner_name", "locale", "sender", "rate_per_second"}
    unknown = set(fields) - allowed
    if unknown:
        raise CampaignError(f"unknown field(s): {', '.join(sorted(unknown))}")
    merged = {name: getattr(campaign, name) for name in allowed} | fields
    _check_category(merged["category"], merged["partner_name"])
    changed = {k: v for k, v in fields.items() if getattr(campaign, k) != v}
    for name, value in changed.items():
        setattr(campaign, name, value)
    if changed:
        _edited(session, campaign, actor)
        audit_step(session, actor, "edit", campaign, fields=sorted(changed))


def save_content(
    session: AnySession,
    campaign: Campaign,
    actor: Actor,
    locale: str,
    draft: Draft,
    compiled_json: str,
) -> None:
    """Store one locale's checked draft and its compiled form (the caller compiled it)."""
    _editable(campaign)
    row = session.get(CampaignContent, (campaign.id, locale))
    if row is None:
        row = CampaignContent(campaign_id=campaign.id, locale=locale)
        session.add(row)
    row.subject, row.preheader, row.body = draft.subject, draft.preheader, draft.body
    row.body_format, row.text, row.compiled = draft.body_format, draft.text, compiled_json
    _edited(session, campaign, actor)
    audit_step(session, actor, "edit", campaign, locale=locale, version=campaign.version)


def approve(session: AnySession, campaign: Campaign, actor: Actor) -> None:
    """A second person approves the current content."""
    if campaign.edited_by is not None and campaign.edited_by == actor.id:
        raise CampaignError("the approval must come from someone other than its last editor")
    if not _contents(session, campaign):
        raise CampaignError("there is nothing to approve yet: write the content first")
    campaign.approved_version, campaign.approved_by = campaign.version, actor.id
    campaign.approved_at = utcnow()
    audit_step(session, actor, "approve", campaign, version=campaign.version)


def _contents(session: AnySession, campaign: Campaign) -> list[CampaignContent]:
    return list(
        session.scalars(select(CampaignContent).where(CampaignContent.campaign_id == campaign.id))
    )


def check_ready(session: AnySession, campaign: Campaign, settings: Settings) -> None:
    """Raise CampaignError unless the campaign may be sent or scheduled now."""
    contents = _contents(session, campaign)
    if not contents or any(not c.compiled for c in contents):
        raise CampaignError("write and save the content (at least one locale) first")
    if settings.campaign_approval == "required" and campaign.approved_version != campaign.version:
        raise CampaignError("a second staff member must approve the current content first")


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
) -> None:
    """Send at a moment (UTC), or at a wall-clock time in each contact's own zone."""
    _editable(campaign)
    check_ready(session, campaign, settings)
    now = utcnow()
    if local_date is not None and local_time is not None:
        from invites.campaigns.planner import local_due, zone_of

        campaign.anchor, campaign.local_date, campaign.local_time = (
            Anchor.LOCAL,
            local_date,
            local_time,
        )
        campaign.default_zone = default_zone
        # The earliest zone's hour: the campaign starts then, each zone's batches later.
        campaign.scheduled_at = local_due(local_date, local_time, zone_of("Pacific/Kiritimati", ""))
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


def send_now(session: AnySession, campaign: Campaign, actor: Actor, settings: Settings) -> None:
    """Send a draft or scheduled campaign now."""
    _editable(campaign)
    check_ready(session, campaign, settings)
    if campaign.anchor == Anchor.MOMENT or campaign.status == CampaignStatus.DRAFT:
        campaign.anchor, campaign.scheduled_at = Anchor.MOMENT, utcnow()
    start(session, campaign, settings)
    audit_step(session, actor, "send", campaign, audience=campaign.audience_at_start)


def confirm_late(session: AnySession, campaign: Campaign, actor: Actor, settings: Settings) -> None:
    """A held campaign goes out after all, late, because a person said so."""
    if campaign.status != CampaignStatus.HELD:
        raise CampaignError("only a held campaign waits for confirmation")
    check_ready(session, campaign, settings)
    start(session, campaign, settings)
    audit_step(session, actor, "confirm_late", campaign)


def pause(session: AnySession, campaign: Campaign, actor: Actor, reason: str | None = None) -> None:
    """Stop sending after the messages now on the wire; nothing is skipped."""
    if campaign.status != CampaignStatus.SENDING:
        raise CampaignError(f"a {campaign.status} campaign can't be paused")
    campaign.status, campaign.paused_reason = CampaignStatus.PAUSED, reason
    campaign.updated_at = utcnow()
    audit_step(session, actor, "pause", campaign, reason=reason)


def resume(session: AnySession, campaign: Campaign, actor: Actor, settings: Settings) -> None:
    """Carry on from where the ledger says it stopped (the caller enqueues the batches)."""
    if campaign.status != CampaignStatus.PAUSED:
        raise CampaignError(f"a {campaign.status} campaign can't be resumed")
    campaign.status, campaign.paused_reason = CampaignStatus.SENDING, None
    campaign.updated_at = utcnow()
    audit_step(session, actor, "resume", campaign)


def cancel(session: AnySession, campaign: Campaign, actor: Actor) -> None:
    """Stop for good; whoever wasn't reached yet won't be."""
    if campaign.status in (CampaignStatus.DONE, CampaignStatus.CANCELLED):
        raise CampaignError(f"a {campaign.status} campaign can't be cancelled")
    campaign.status, campaign.updated_at = CampaignStatus.CANCELLED, utcnow()
    campaign.finished_at = utcnow()
    audit_step(session, actor, "cancel", campaign)


def retry_failed(session: AnySession, campaign: Campaign, actor: Actor) -> int:
    """Queue exactly the failed and unknown deliveries once more; return how many."""
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
