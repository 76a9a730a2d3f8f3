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

    @property
    def scope_set(self) -> set[str]:
        """The scopes as a set."""
        return {s for s in self.scopes.split(",") if s}


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
    """The outbox: one row per email to send, written in the same transaction as its cause."""

    __tablename__ = "outbound_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitations.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_outbound_status_next", "status", "next_attempt_at"),)


class Suppression(db.Model):  # type: ignore[name-defined]
    """An address that must not be contacted, held only as a keyed hash."""

    __tablename__ = "suppressions"
    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
