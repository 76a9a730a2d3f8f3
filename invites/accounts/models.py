"""Account holders, their current choices, and the consent log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from invites.core.atrest import SEALED_LENGTH, SealedAddress
from invites.core.db import db, utcnow


class Contact(db.Model):  # type: ignore[name-defined]
    """An account holder, synced from the app backend; lives as long as the account."""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[str] = mapped_column(String(128), unique=True)
    #: The address, sealed (invites.core.atrest); read and write it as `email`.
    email_sealed: Mapped[str] = mapped_column("email", String(SEALED_LENGTH))
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    email = SealedAddress[str]("contacts.email", "email_sealed", "email_hash")
    locale: Mapped[str] = mapped_column(String(8), default="en")
    name: Mapped[str | None] = mapped_column(String(200))
    #: IANA zone, for campaigns sent at a local hour (None: the campaign's default zone).
    time_zone: Mapped[str | None] = mapped_column(String(64))
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
    #: The privacy-policy version in force (or named) when this choice was made: a partner
    #: consent given under a version older than a partner-sharing change no longer counts.
    policy_version: Mapped[str | None] = mapped_column(String(64))


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

    #: The console's home page counts withdrawals of the last 7 and 30 days.
    __table_args__ = (Index("ix_consent_events_created", "created_at"),)


class ContactAttribute(db.Model):  # type: ignore[name-defined]
    """One declared attribute's value for a contact (invites.accounts.attributes).

    A narrow table rather than a JSON column: the same indexed SQL selects an audience on
    SQLite and PostgreSQL, an undeclared name can't hide inside a document, and the rows go
    with the contact (cascade, and explicitly on erasure).
    """

    __tablename__ = "contact_attributes"
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The canonical text (ISO date, "true"/"false", a number's shortest form).
    value: Mapped[str] = mapped_column(String(200))
    #: A number attribute's value as a number, for before/after; None for other kinds.
    number: Mapped[float | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_contact_attributes_name_value", "name", "value"),)
