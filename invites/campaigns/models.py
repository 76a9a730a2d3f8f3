"""Campaign tables: what staff wrote, the batches a send is cut into, and the delivery ledger."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from invites.core.db import db, utcnow


class CampaignStatus(StrEnum):
    """A campaign's life: draft → scheduled → sending ⇄ paused → done, or cancelled."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    #: Its time passed more than CAMPAIGN_LATE_GRACE ago (the service was down): a person
    #: must confirm before it goes out late.
    HELD = "held"
    SENDING = "sending"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


class Anchor(StrEnum):
    """What a scheduled time means."""

    #: One moment for everybody.
    MOMENT = "moment"
    #: A wall-clock time in each contact's own time zone, on the scheduled date.
    LOCAL = "local"


class BatchStatus(StrEnum):
    """A batch is a contact-id range of one campaign, sent by one job at a time."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    #: A local-time group whose hour passed long before the service got to it (it was
    #: down): it waits for a person to confirm it (invites.campaigns.late).
    HELD = "held"


class Delivery(StrEnum):
    """One contact's state in one campaign (the ledger)."""

    QUEUED = "queued"
    #: Marked just before the message goes on the wire: a crash leaves only these unknown.
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    #: Handed over in full, but no reply came; never resent automatically.
    UNKNOWN = "unknown"
    #: No longer eligible when their message was due (unsubscribed, consent withdrawn).
    SKIPPED = "skipped"
    SUPPRESSED = "suppressed"


FINAL_DELIVERIES = frozenset(Delivery) - {Delivery.QUEUED, Delivery.SENDING}


class Campaign(db.Model):  # type: ignore[name-defined]
    """A marketing campaign: who it may reach, when, how fast, and where it stands."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: promotional or partner_offers (the categories register).
    category: Mapped[str] = mapped_column(String(32))
    #: A partner offer names the partner; the email says it is sent on their behalf.
    partner_name: Mapped[str | None] = mapped_column(String(120))
    #: Only contacts of this locale, or everybody.
    locale: Mapped[str | None] = mapped_column(String(8))
    #: From address; MAIL_FROM_MARKETING when empty.
    sender: Mapped[str | None] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT)
    #: Bumped by every content edit; an approval is for one version.
    version: Mapped[int] = mapped_column(default=1)
    approved_version: Mapped[int | None]
    approved_by: Mapped[int | None]
    approved_at: Mapped[datetime | None]
    anchor: Mapped[str] = mapped_column(String(16), default=Anchor.MOMENT)
    #: UTC, for a moment; for local delivery, the date and wall-clock time below.
    scheduled_at: Mapped[datetime | None]
    local_date: Mapped[date | None]
    local_time: Mapped[str | None] = mapped_column(String(5))
    #: The zone of contacts who have none.
    default_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: Messages per second for this campaign (None: only the relay's limit).
    rate_per_second: Mapped[int | None]
    paused_reason: Mapped[str | None] = mapped_column(Text)
    #: Contacts eligible when sending began (the bar's denominator until planning ends).
    audience_at_start: Mapped[int | None]
    planning_done: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[int | None]
    #: Who changed the content last: an approval must come from someone else.
    edited_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    #: Set when a finished campaign is moved out of the console's default list.
    archived_at: Mapped[datetime | None]
    #: Conditions on contact attributes, as JSON (invites.campaigns.segments); None: none.
    segment: Mapped[str | None] = mapped_column(Text)
    #: The material policy version this campaign is the notice of (invites.campaigns.notices):
    #: its content is the service's, not staff's. Unique: one notice per version.
    policy_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("policy_versions.id"), unique=True
    )

    __table_args__ = (Index("ix_campaigns_status", "status"),)


class CampaignContent(db.Model):  # type: ignore[name-defined]
    """What staff wrote for one locale, and its compiled form (checked when saved)."""

    __tablename__ = "campaign_contents"
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    locale: Mapped[str] = mapped_column(String(8), primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    preheader: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text)
    #: markdown or html
    body_format: Mapped[str] = mapped_column(String(16), default="markdown")
    #: The text part as written, or None to have it generated from the body.
    text: Mapped[str | None] = mapped_column(Text)
    #: JSON of the compiled templates (mailer.compiled.CompiledDraft.to_json): what workers use.
    compiled: Mapped[str | None] = mapped_column(Text)


class CampaignBatch(db.Model):  # type: ignore[name-defined]
    """A slice of a campaign's ledger that one job sends over one SMTP connection."""

    __tablename__ = "campaign_batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    first_contact_id: Mapped[int] = mapped_column(default=0)
    last_contact_id: Mapped[int] = mapped_column(default=0)
    planned: Mapped[int] = mapped_column(default=0)
    #: Not before this (a local-time campaign's hour, or a deferred retry).
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.PENDING)
    #: Random per job run; with leased_until, one live worker owns a running batch.
    lease_token: Mapped[str | None] = mapped_column(String(32))
    leased_until: Mapped[datetime | None]
    enqueued_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_campaign_batches_campaign_status", "campaign_id", "status"),)


class CampaignDelivery(db.Model):  # type: ignore[name-defined]
    """The ledger: one row per contact a campaign reached for, unique per (campaign, contact).

    Written when the campaign's planner takes the contact into a batch; its status moves only
    after each send, so a crash, a pause or a second worker can neither skip anyone nor send
    anyone twice. An erased contact's rows stay, without the contact, so the campaign's
    aggregate results don't change when a person exercises their right to erasure.
    """

    __tablename__ = "campaign_deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    batch_id: Mapped[int] = mapped_column(ForeignKey("campaign_batches.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=Delivery.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Why it failed, was skipped or is unknown (addresses redacted).
    reason: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", name="uq_campaign_deliveries_contact"),
        Index("ix_campaign_deliveries_batch_status", "batch_id", "status"),
        Index("ix_campaign_deliveries_campaign_status", "campaign_id", "status"),
    )


class CampaignProgress(db.Model):  # type: ignore[name-defined]
    """Ledger rows per status of one campaign, as a few shards whose sum is the count.

    Database triggers on the ledger (migration 0012) keep them, in the same transaction as the
    ledger row that changes, whoever writes it: a poll of a campaign's progress reads these
    few rows instead of counting its ledger. On PostgreSQL each connection writes the shard of
    its backend's pid, so two workers don't queue on one row, and one transaction changes one
    row (no deadlock between shards); SQLite has one writer at a time and one shard. A shard's
    count alone means nothing (it may be negative): only the sum does.
    """

    __tablename__ = "campaign_progress"
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # One column per Delivery status (a test holds them equal).
    queued: Mapped[int] = mapped_column(default=0)
    sending: Mapped[int] = mapped_column(default=0)
    sent: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    unknown: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    suppressed: Mapped[int] = mapped_column(default=0)

    __table_args__ = ({"postgresql_with": {"fillfactor": 50}},)


class CampaignCount(db.Model):  # type: ignore[name-defined]
    """Aggregate events attributed to a campaign: unsubscribes, complaints, hard bounces."""

    __tablename__ = "campaign_counts"
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


class SavedSegment(db.Model):  # type: ignore[name-defined]
    """Named conditions on contact attributes that a campaign can start from (copied into it,
    so a later change to the saved one never alters a campaign already approved)."""

    __tablename__ = "saved_segments"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    #: The segment as JSON (invites.campaigns.segments.Segment.to_json).
    definition: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
