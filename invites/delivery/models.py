"""The outbox: messages to send, and their wake-ups for the relay."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from invites.core.atrest import SEALED_LENGTH, SealedAddress
from invites.core.db import db, utcnow


class Status(StrEnum):
    """Where an outbox message is. Everything but PENDING and SENDING is final."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    #: Handed over in full, but no reply came: it may have been delivered. Never retried.
    UNKNOWN = "unknown"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"


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
    #: Service mail to an address with no contact (erased once the message is final): sealed
    #: (invites.core.atrest), read and written as `to_email`, found by its keyed hash.
    to_email_sealed: Mapped[str | None] = mapped_column("to_email", String(SEALED_LENGTH))
    to_email_hash: Mapped[str | None] = mapped_column(String(64))
    to_email = SealedAddress[str | None](
        "outbound_messages.to_email", "to_email_sealed", "to_email_hash", keep_hash=False
    )
    category: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str | None] = mapped_column(String(8))
    template: Mapped[str | None] = mapped_column(String(64))
    context: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=Status.PENDING)
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
    (`invites.delivery.relay`) deletes a batch of these and enqueues their jobs in one pipeline.
    """

    __tablename__ = "outbox_wakeups"
    # No foreign key: it would cost every invitation a lookup, and a job for a message that
    # is gone finds nothing to claim.
    message_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
