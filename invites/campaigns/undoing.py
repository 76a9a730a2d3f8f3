"""Ways back and out of the way: unschedule, duplicate, delete a draft, archive.

Like every step (invites.campaigns.lifecycle), each locks the campaign's row first, refuses
a campaign that changed since the person's page was made, and is written to the audit log in
the same transaction. No HTTP here; the caller commits.
"""

from __future__ import annotations

from sqlalchemy import delete, exists, select

from invites.campaigns.drafting import Actor, audit_step, not_a_notice
from invites.campaigns.locking import CampaignError, Seen, lock
from invites.campaigns.models import Campaign, CampaignBatch, CampaignContent, CampaignStatus
from invites.core.db import AnySession, utcnow

#: States that have run their course: only these can be archived.
FINISHED = (CampaignStatus.DONE, CampaignStatus.CANCELLED)

#: The longest campaign name (the column's size).
NAME_LENGTH = 200


def unschedule(
    session: AnySession, campaign: Campaign, actor: Actor, *, seen: Seen | None = None
) -> None:
    """Take a scheduled (or held) campaign back to draft; its content and approval stay."""
    lock(session, campaign, seen)
    not_a_notice(campaign, "unscheduled")
    if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.HELD):
        raise CampaignError(f"a {campaign.status} campaign has no schedule to take back")
    was = campaign.scheduled_at
    campaign.status, campaign.scheduled_at = CampaignStatus.DRAFT, None
    campaign.local_date = campaign.local_time = None
    campaign.updated_at = utcnow()
    audit_step(session, actor, "unschedule", campaign, was=was.isoformat() if was else None)


def _copy_name(name: str) -> str:
    name = f"Copy of {name}"
    return name if len(name) <= NAME_LENGTH else name[: NAME_LENGTH - 1] + "…"


def duplicate(
    session: AnySession, campaign: Campaign, actor: Actor, *, seen: Seen | None = None
) -> Campaign:
    """A new draft with this campaign's settings and content, unapproved and unscheduled."""
    lock(session, campaign, seen)
    not_a_notice(campaign, "duplicated")
    now = utcnow()
    copy = Campaign(
        name=_copy_name(campaign.name),
        category=campaign.category,
        partner_name=campaign.partner_name,
        locale=campaign.locale,
        sender=campaign.sender,
        rate_per_second=campaign.rate_per_second,
        default_zone=campaign.default_zone,
        segment=campaign.segment,
        status=CampaignStatus.DRAFT,
        created_by=actor.id,
        edited_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(copy)
    session.flush()
    for content in session.scalars(
        select(CampaignContent).where(CampaignContent.campaign_id == campaign.id)
    ):
        session.add(
            CampaignContent(
                campaign_id=copy.id,
                locale=content.locale,
                subject=content.subject,
                preheader=content.preheader,
                body=content.body,
                body_format=content.body_format,
                text=content.text,
                compiled=content.compiled,
            )
        )
    audit_step(session, actor, "create", copy, name=copy.name, duplicate_of=campaign.id)
    audit_step(session, actor, "duplicate", campaign, copy=copy.id)
    return copy


def delete_draft(
    session: AnySession, campaign: Campaign, actor: Actor, *, seen: Seen | None = None
) -> None:
    """Delete a draft that never started; its audit history stays."""
    lock(session, campaign, seen)
    not_a_notice(campaign, "deleted")
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignError(f"only a draft can be deleted; this one is {campaign.status}")
    started = session.scalar(select(exists().where(CampaignBatch.campaign_id == campaign.id)))
    if started or campaign.started_at is not None:
        raise CampaignError("it was sent to someone once: archive it instead")
    audit_step(session, actor, "delete", campaign, name=campaign.name)
    # Explicitly, not by the foreign key's cascade: SQLite enforces foreign keys only when asked.
    session.execute(delete(CampaignContent).where(CampaignContent.campaign_id == campaign.id))
    session.delete(campaign)


def archive(
    session: AnySession,
    campaign: Campaign,
    actor: Actor,
    *,
    archived: bool = True,
    seen: Seen | None = None,
) -> None:
    """Move a finished campaign out of the default list (or, with archived=False, back)."""
    lock(session, campaign, seen)
    if campaign.status not in FINISHED:
        raise CampaignError(
            f"only a done or cancelled campaign is archived; this one is {campaign.status}"
        )
    if (campaign.archived_at is not None) == archived:
        raise CampaignError("it is archived already" if archived else "it is not archived")
    campaign.archived_at = utcnow() if archived else None
    audit_step(session, actor, "archive" if archived else "unarchive", campaign)
