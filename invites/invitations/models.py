"""Invitation tables: what is held for an invitation, and counters."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from invites.core.atrest import SEALED_LENGTH, SealedAddress
from invites.core.db import db, utcnow


class InvitationStatus(StrEnum):
    """An invitation's life: pending → sent → accepted, or closed (its address erased)."""

    PENDING = "pending"
    SENT = "sent"
    ACCEPTED = "accepted"
    REMOVED = "removed"
    EXPIRED = "expired"
    BOUNCED = "bounced"


class Invitation(db.Model):  # type: ignore[name-defined]
    """One friend invitation. The address, name and note are erased when the purpose ends."""

    __tablename__ = "invitations"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Tokens carry this random id, never the row id or the address.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    #: The address, sealed (invites.core.atrest); read and write it as `email`.
    email_sealed: Mapped[str | None] = mapped_column("email", String(SEALED_LENGTH))
    # Keyed hash (HMAC) of the address: lets a removal link still block the address after the
    # address itself is erased, and recognises an address that already accepted.
    email_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    email = SealedAddress[str | None]("invitations.email", "email_sealed", "email_hash")
    inviter_id: Mapped[str | None] = mapped_column(String(128))
    inviter_name: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(16), default=InvitationStatus.PENDING)
    accepted_user_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_invitations_status_created", "status", "created_at"),)


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
