"""Writing a campaign: create it, change its settings and content, approve a version.

Each step locks the campaign's row first (invites.campaigns.locking) and is written to the
audit log in the same transaction. No HTTP here; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from invites.accounts.categories import CATEGORIES
from invites.campaigns.locking import CampaignError, Seen, lock
from invites.campaigns.models import Campaign, CampaignContent, CampaignStatus
from invites.core import audit
from invites.core.config import Settings
from invites.core.db import AnySession, utcnow
from mailer.authoring import Draft

#: States in which the content and settings may still change.
EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.HELD)
MARKETING_CATEGORIES = tuple(name for name, c in CATEGORIES.items() if c.can_opt_out)
#: Every category a campaign can have: the marketing ones staff create, and service for the
#: notices of a material policy change (invites.campaigns.notices).
CAMPAIGN_CATEGORIES = tuple(CATEGORIES)


@dataclass(frozen=True)
class Actor:
    """Who does something: a staff user (id, and `StaffUser.label`), or an operator at the
    CLI (no id, `audit.operator().label`). Never an address: the audit log keeps the label."""

    id: int | None
    label: str
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
    segment: str | None = None,
) -> Campaign:
    """Start a draft (`segment`: the JSON of invites.campaigns.segments, or None)."""
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
        segment=segment,
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


def not_a_notice(campaign: Campaign, step: str) -> None:
    """Refuse a staff step on a policy notice (invites.campaigns.notices) other than pause,
    resume, retry and archive: its content is the service's, and it must go out."""
    if campaign.policy_version_id is not None:
        raise CampaignError(
            f"this is the notice of a privacy-policy change, written by the service from the "
            f"published version: it can't be {step} (it can be paused and resumed)"
        )


def editable(campaign: Campaign) -> None:
    """Refuse unless the campaign's content and settings may still change."""
    not_a_notice(campaign, "edited")
    if campaign.status not in EDITABLE:
        raise CampaignError(f"a {campaign.status} campaign can't be edited")


def _edited(session: AnySession, campaign: Campaign, actor: Actor) -> None:
    # Any change voids an approval: the second person approved what they saw, not this.
    campaign.version += 1
    campaign.approved_version = campaign.approved_by = campaign.approved_at = None
    campaign.edited_by, campaign.updated_at = actor.id, utcnow()


def update_settings(
    session: AnySession,
    campaign: Campaign,
    actor: Actor,
    *,
    seen: Seen | None = None,
    **fields: Any,
) -> None:
    """Change name, category, partner, locale, sender, rate or segment (the JSON of
    invites.campaigns.segments) of a draft or scheduled campaign."""
    lock(session, campaign, seen)
    editable(campaign)
    allowed = {"name", "category", "partner_name", "locale", "sender", "rate_per_second"}
    allowed |= {"segment"}
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
    compiled_json: str | None,
    *,
    seen: Seen | None = None,
) -> None:
    """Store one locale's draft and its compiled form (the caller compiled it), or, with None,
    a draft kept with problems to fix: the campaign can't be approved or sent until they are."""
    lock(session, campaign, seen)
    editable(campaign)
    row = session.get(CampaignContent, (campaign.id, locale))
    if row is None:
        row = CampaignContent(campaign_id=campaign.id, locale=locale)
        session.add(row)
    row.subject, row.preheader, row.body = draft.subject, draft.preheader, draft.body
    row.body_format, row.text, row.compiled = draft.body_format, draft.text, compiled_json
    _edited(session, campaign, actor)
    audit_step(
        session,
        actor,
        "edit",
        campaign,
        locale=locale,
        version=campaign.version,
        **({} if compiled_json else {"kept_with_problems": True}),
    )


def approve(
    session: AnySession, campaign: Campaign, actor: Actor, *, seen: Seen | None = None
) -> None:
    """A second person approves the current content (the version their page showed)."""
    lock(session, campaign, seen)
    not_a_notice(campaign, "approved again")
    if campaign.status not in EDITABLE:
        raise CampaignError(f"a {campaign.status} campaign has nothing left to approve")
    if campaign.approved_version == campaign.version:
        raise CampaignError(f"version {campaign.version} is approved already")
    if campaign.edited_by is not None and campaign.edited_by == actor.id:
        raise CampaignError("the approval must come from someone other than its last editor")
    contents = _contents(session, campaign)
    if not contents:
        raise CampaignError("there is nothing to approve yet: write the content first")
    _all_checked(contents)
    campaign.approved_version, campaign.approved_by = campaign.version, actor.id
    campaign.approved_at = utcnow()
    audit_step(session, actor, "approve", campaign, version=campaign.version)


def _contents(session: AnySession, campaign: Campaign) -> list[CampaignContent]:
    return list(
        session.scalars(select(CampaignContent).where(CampaignContent.campaign_id == campaign.id))
    )


def _all_checked(contents: list[CampaignContent]) -> None:
    unchecked = sorted(c.locale for c in contents if not c.compiled)
    if unchecked:
        raise CampaignError(
            f"the {', '.join(unchecked)} content has problems to fix first (see its editor)"
        )


def check_ready(session: AnySession, campaign: Campaign, settings: Settings) -> None:
    """Raise CampaignError unless the campaign may be sent or scheduled now."""
    contents = _contents(session, campaign)
    if not contents:
        raise CampaignError("write and save the content (at least one locale) first")
    _all_checked(contents)
    if settings.campaign_approval == "required" and campaign.approved_version != campaign.version:
        raise CampaignError("a second staff member must approve the current content first")
