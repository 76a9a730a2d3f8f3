"""Database tables: what the service holds, and for which purpose."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .db import db, utcnow


class ApiKey(db.Model):  # type: ignore[name-defined]
    """A key the app backend uses; only its SHA-256 is stored."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Invitation(db.Model):  # type: ignore[name-defined]
    """One friend invitation. The address, name and note are erased when the purpose ends."""

    __tablename__ = "invitations"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Tokens carry this random id, never the row id or the address.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    # Keyed hash (HMAC) of the address: lets a removal link still block the address after the
    # address itself is erased, and recognises an address that already accepted.
    email_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    inviter_id: Mapped[str | None] = mapped_column(String(128))
    inviter_name: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    accepted_user_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_invitations_status_created", "status", "created_at"),)


class OutboundMessage(db.Model):  # type: ignore[name-defined]
    """The outbox: one row per email to send, written in the same transaction as its cause.

    Rows point at the recipient (invitation or contact) rather than copying the address, so
    erasing the recipient erases it from queued mail too, and eligibility is read at send time.
    """

    __tablename__ = "outbound_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    #: invitation, service or marketing
    kind: Mapped[str] = mapped_column(String(32))
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitations.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    #: Service mail to an address with no contact (erased once the message is final).
    to_email: Mapped[str | None] = mapped_column(String(320))
    category: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str | None] = mapped_column(String(8))
    template: Mapped[str | None] = mapped_column(String(64))
    context: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    #: Random per job run: lets a claim whose commit went unseen recognise itself.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_outbound_status_next", "status", "next_attempt_at"),)


class OutboxWakeup(db.Model):  # type: ignore[name-defined]
    """An outbox row whose job is not enqueued yet: written with it, taken by the relay.

    The web request commits this with the message and never talks to Redis; the relay
    (`invites.relay`) deletes a batch of these and enqueues their jobs in one pipeline.
    """

    __tablename__ = "outbox_wakeups"
    # No foreign key: it would cost every invitation a lookup, and a job for a message that
    # is gone finds nothing to claim.
    message_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class Suppression(db.Model):  # type: ignore[name-defined]
    """An address that must not be contacted (for a reason), held only as a keyed hash."""

    __tablename__ = "suppressions"
    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("email_hash", "reason", name="uq_suppression_reason"),)


class Contact(db.Model):  # type: ignore[name-defined]
    """An account holder, synced from the app backend; lives as long as the account."""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[str] = mapped_column(String(128), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    locale: Mapped[str] = mapped_column(String(8), default="en")
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Preference(db.Model):  # type: ignore[name-defined]
    """A contact's current choice for one category (derived from the consent log)."""

    __tablename__ = "preferences"
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    granted: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentEvent(db.Model):  # type: ignore[name-defined]
    """Append-only consent log: every grant and withdrawal, with its proof."""

    __tablename__ = "consent_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool]
    source: Mapped[str] = mapped_column(String(32))
    policy_version: Mapped[str | None] = mapped_column(String(64))
    wording_version: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SoftBounceCount(db.Model):  # type: ignore[name-defined]
    """Soft bounces of an address (keyed hash) in the current window."""

    __tablename__ = "soft_bounces"
    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime]
    count: Mapped[int] = mapped_column(default=0)


class AddressThrottle(db.Model):  # type: ignore[name-defined]
    """When an address (as a keyed hash) was last invited by anyone: one invitation per window."""

    __tablename__ = "address_throttle"
    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    invited_at: Mapped[datetime]


class InvitationDailyStats(db.Model):  # type: ignore[name-defined]
    """Aggregate invitation counters per day: no address, no inviter-invitee pair."""

    __tablename__ = "invitation_daily_stats"
    day: Mapped[date] = mapped_column(primary_key=True)
    sent: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    removed: Mapped[int] = mapped_column(default=0)
    expired: Mapped[int] = mapped_column(default=0)
    bounced: Mapped[int] = mapped_column(default=0)
    suppressed: Mapped[int] = mapped_column(default=0)
    #: Handed to the mail server in full, but no reply came: may or may not have arrived.
    unknown: Mapped[int] = mapped_column(default=0, server_default="0")


class InviterDailyCount(db.Model):  # type: ignore[name-defined]
    """Per inviter and day: requests (for limits), sent and accepted (for the inviter's stats)."""

    __tablename__ = "inviter_daily_counts"
    inviter_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    requested: Mapped[int] = mapped_column(default=0)
    sent: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)


class IdempotencyRecord(db.Model):  # type: ignore[name-defined]
    """The stored answer to a request made with an Idempotency-Key."""

    __tablename__ = "idempotency_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("api_key_id", "key", name="uq_idempotency_key"),)


# Tables declared in their own packages, imported here so that whatever reads `db.metadata`
# (Alembic's env, the tests' table clean-up) sees every table once this module is loaded.
from .audit import AuditEvent  # noqa: E402, F401
from .staff.models import StaffUser  # noqa: E402, F401
