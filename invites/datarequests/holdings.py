"""Everything held about one address, gathered once: the data page shows it and "Download as
JSON" returns the very same object, so the file holds everything the page shows.

The models here are the export's documented schema (`/privacy/data/schema.json`).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from invites.accounts import contacts
from invites.accounts.models import Contact, Preference
from invites.campaigns.models import Campaign, CampaignDelivery, Delivery
from invites.core.config import Settings
from invites.core.db import AnySession
from invites.core.models import Suppression
from invites.delivery.models import OutboundMessage, Status
from invites.invitations.models import Invitation

SCHEMA_VERSION = "spotcam-data-export/1"


class ContactRecord(BaseModel):
    """The account holder record the SpotCam app keeps in sync."""

    user_id: str = Field(description="The account's id in the SpotCam app.")
    email: str
    name: str | None
    locale: str = Field(description="The language email is written in: en or ru.")
    time_zone: str | None
    attributes: dict[str, str] = Field(
        default_factory=dict,
        description="Details the app sent about the account (the attribute register), as stored.",
    )
    created_at: datetime
    updated_at: datetime


class Choice(BaseModel):
    """One category of email and whether it may be sent now."""

    category: str
    on: bool = Field(description="Whether this category may be sent now.")
    chosen: bool = Field(description="Whether the person chose (false: the default applies).")
    policy_version: str | None = Field(description="The policy version it was chosen under.")
    chosen_at: datetime | None


class ConsentEntry(BaseModel):
    """One grant or withdrawal in the consent history, oldest first."""

    category: str
    granted: bool
    source: str
    policy_version: str | None
    wording_version: str | None
    ip: str | None
    at: datetime


class PendingInvitation(BaseModel):
    """An invitation to this address: only what the invitee was shown."""

    inviter_name: str | None = Field(description="The inviter's display name in the email.")
    note: str | None = Field(description="The inviter's note in the email.")
    locale: str
    status: str
    created_at: datetime
    sent_at: datetime | None


class SuppressionEntry(BaseModel):
    """A reason this address must not be contacted (held as a keyed hash only)."""

    reason: str
    since: datetime


class SentCount(BaseModel):
    """How many messages of one category were sent to this address."""

    category: str
    sent: int


class DataExport(BaseModel):
    """Everything SpotCam Mail holds about one email address."""

    schema_: str = Field(SCHEMA_VERSION, alias="schema", description="This format's name.")
    generated_at: datetime
    email: str | None = Field(description="The address, where it is held in plain text.")
    contact: ContactRecord | None
    preferences: list[Choice]
    consent_history: list[ConsentEntry]
    invitations: list[PendingInvitation]
    suppressions: list[SuppressionEntry]
    messages_sent: list[SentCount]

    model_config = {"populate_by_name": True}

    @property
    def holds_anything(self) -> bool:
        """Whether anything at all is held."""
        return bool(self.contact or self.invitations or self.suppressions or self.messages_sent)


def _contacts(session: AnySession, email_hash: str) -> list[Contact]:
    return list(
        session.scalars(
            select(Contact).where(Contact.email_hash == email_hash).order_by(Contact.id)
        )
    )


def _invitations(session: AnySession, email_hash: str) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation).where(Invitation.email_hash == email_hash).order_by(Invitation.id)
        )
    )


def _sent_counts(
    session: AnySession, contact_ids: list[int], invitation_ids: list[int]
) -> list[SentCount]:
    counts: dict[str, int] = {}
    single = session.execute(
        select(OutboundMessage.category, func.count())
        .where(OutboundMessage.contact_id.in_(contact_ids), OutboundMessage.status == Status.SENT)
        .group_by(OutboundMessage.category)
    )
    for category, n in single:
        counts[category or "service"] = counts.get(category or "service", 0) + n
    invited = session.scalar(
        select(func.count()).where(
            OutboundMessage.invitation_id.in_(invitation_ids), OutboundMessage.status == Status.SENT
        )
    )
    if invited:
        counts["invitation"] = counts.get("invitation", 0) + int(invited)
    campaigns = session.execute(
        select(Campaign.category, func.count())
        .select_from(CampaignDelivery)
        .join(Campaign, Campaign.id == CampaignDelivery.campaign_id)
        .where(
            CampaignDelivery.contact_id.in_(contact_ids), CampaignDelivery.status == Delivery.SENT
        )
        .group_by(Campaign.category)
    )
    for category, n in campaigns:
        counts[category] = counts.get(category, 0) + n
    return [SentCount(category=c, sent=n) for c, n in sorted(counts.items())]


def gather(session: AnySession, email_hash: str, settings: Settings, now: datetime) -> DataExport:
    """Everything held about the address with this keyed hash."""
    found = _contacts(session, email_hash)
    invitations = _invitations(session, email_hash)
    contact = found[0] if found else None
    preferences: list[Choice] = []
    consents: list[ConsentEntry] = []
    for each in found:
        state = contacts.current(session, each, settings)
        chosen = {
            p.category: p
            for p in session.scalars(select(Preference).where(Preference.contact_id == each.id))
        }
        preferences += [
            Choice(
                category=name,
                on=on,
                chosen=name in chosen,
                policy_version=chosen[name].policy_version if name in chosen else None,
                chosen_at=chosen[name].updated_at if name in chosen else None,
            )
            for name, on in state.items()
        ]
        consents += [
            ConsentEntry(
                category=e.category,
                granted=e.granted,
                source=e.source,
                policy_version=e.policy_version,
                wording_version=e.wording_version,
                ip=e.ip,
                at=e.created_at,
            )
            for e in contacts.consent_log(session, each)
        ]
    email = contact.email if contact else next((i.email for i in invitations if i.email), None)
    suppressions = session.scalars(
        select(Suppression).where(Suppression.email_hash == email_hash).order_by(Suppression.id)
    )
    return DataExport(
        schema=SCHEMA_VERSION,
        generated_at=now,
        email=email,
        contact=ContactRecord(
            user_id=contact.user_id,
            email=contact.email,
            name=contact.name,
            locale=contact.locale,
            time_zone=contact.time_zone,
            attributes=contacts.attributes(session, contact),
            created_at=contact.created_at,
            updated_at=contact.updated_at,
        )
        if contact
        else None,
        preferences=preferences,
        consent_history=consents,
        invitations=[
            PendingInvitation(
                inviter_name=i.inviter_name,
                note=i.note,
                locale=i.locale,
                status=i.status,
                created_at=i.created_at,
                sent_at=i.sent_at,
            )
            for i in invitations
        ],
        suppressions=[SuppressionEntry(reason=s.reason, since=s.created_at) for s in suppressions],
        messages_sent=_sent_counts(session, [c.id for c in found], [i.id for i in invitations]),
    )
