"""Data requests and pending address changes: what the service keeps about answering them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from invites.core.atrest import SEALED_LENGTH, SealedAddress
from invites.core.db import db, utcnow


class RequestStatus(StrEnum):
    """Where a data request is. Only SENT can be opened; only OPENED shows the data."""

    #: Nothing is held for the address: no mail was sent (the person saw the same page).
    NOTHING_HELD = "nothing_held"
    #: A link was mailed to the address and not used yet.
    SENT = "sent"
    #: The link was used: the person saw what is held (the request is answered).
    OPENED = "opened"
    #: A newer request for the same address voided this one's link.
    SUPERSEDED = "superseded"
    #: The person erased everything from the data page.
    ERASED = "erased"


#: A request in one of these states has been answered.
COMPLETED = (RequestStatus.OPENED, RequestStatus.ERASED, RequestStatus.NOTHING_HELD)


class DataRequest(db.Model):  # type: ignore[name-defined]
    """One request to see, correct or erase what is held about an address.

    Holds the keyed hash of the address, never the address: the link is mailed to the address
    through the outbox, and the data page finds everything by the hash.
    """

    __tablename__ = "data_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    #: What the link's token names; random, never the row id.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    #: "self" (the public form) or "staff" (someone wrote in to the published address).
    source: Mapped[str] = mapped_column(String(16))
    #: The staff user who started it (the audit log says who they were).
    staff_user_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the link was used (the data page opened).
    opened_at: Mapped[datetime | None]
    #: When it ended: superseded, or everything erased.
    closed_at: Mapped[datetime | None]
    #: What the person did on the data page, comma-separated: exported, language, address, erased.
    actions: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_data_requests_status_created", "status", "created_at"),)


class AddressChange(db.Model):  # type: ignore[name-defined]
    """A new address asked for on the data page, until its owner confirms it (or 24 hours)."""

    __tablename__ = "address_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    #: Sealed (invites.core.atrest), read and written as `new_email`.
    new_email_sealed: Mapped[str] = mapped_column("new_email", String(SEALED_LENGTH))
    new_email_hash: Mapped[str | None] = mapped_column(String(64))
    new_email = SealedAddress[str](
        "address_changes.new_email", "new_email_sealed", "new_email_hash"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
