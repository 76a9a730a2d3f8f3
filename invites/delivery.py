"""Decide at send time whether an outbox message may go, and build it (per kind of message)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import select

from mailer import Renderer

from . import contacts, invitations
from .config import Settings
from .db import AnySession, bump
from .emails import invitation_message
from .messages import build_marketing, build_service
from .models import Contact, Invitation, InviterDailyCount, OutboundMessage
from .suppression import BLOCKS, is_suppressed, suppress
from .tokens import Tokens


@dataclass(frozen=True)
class Skip:
    """The message must not be sent (final); status is cancelled or suppressed."""

    status: str
    reason: str


@dataclass(frozen=True)
class Ready:
    """The message may be sent; the callbacks record the outcome in the same transaction."""

    email: EmailMessage
    sent: Callable[[datetime], None]
    bounced: Callable[[datetime, bool], None]


def prepare(
    session: AnySession, msg: OutboundMessage, settings: Settings, t: Tokens, r: Renderer
) -> Skip | Ready:
    """Check eligibility now, not when the message was queued, and build the email."""
    if msg.kind == "invitation":
        return _invitation(session, msg, settings, t, r)
    if msg.kind == "service":
        return _service(session, msg, settings, t, r)
    if msg.kind == "marketing":
        return _marketing(session, msg, settings, t, r)
    return Skip("cancelled", f"unknown message kind {msg.kind!r}")


def _invitation(
    session: AnySession, msg: OutboundMessage, settings: Settings, t: Tokens, r: Renderer
) -> Skip | Ready:
    inv = session.get(Invitation, msg.invitation_id) if msg.invitation_id else None
    if inv is None or inv.email is None or inv.status not in invitations.OPEN:
        return Skip("cancelled", "invitation closed before sending")
    if inv.email_hash and is_suppressed(session, inv.email_hash, BLOCKS["invitation"]):
        return Skip("suppressed", "address is on the suppression list")

    def sent(now: datetime) -> None:
        inv.status, inv.sent_at = "sent", now
        invitations.count(session, now, sent=1)
        if inv.inviter_id:
            bump(
                session,
                InviterDailyCount.__table__,
                {"inviter_id": inv.inviter_id, "day": now.date()},
                sent=1,
            )

    def bounced(now: datetime, dead: bool) -> None:
        invitations.bounce(session, inv, now, dead)

    return Ready(invitation_message(inv, settings, t, r), sent, bounced)


def _suppress_if_dead(session: AnySession, email_hash: str) -> Callable[[datetime, bool], None]:
    def bounced(now: datetime, dead: bool) -> None:
        if dead:
            suppress(session, email_hash, "hard_bounce", now)

    return bounced


def _nothing(now: datetime) -> None:
    return None


def _service(
    session: AnySession, msg: OutboundMessage, settings: Settings, t: Tokens, r: Renderer
) -> Skip | Ready:
    from .addresses import address_hash

    contact = session.get(Contact, msg.contact_id) if msg.contact_id else None
    to = contact.email if contact else msg.to_email
    if to is None:
        return Skip("cancelled", "recipient deleted before sending")
    email_hash = contact.email_hash if contact else address_hash(to, settings.address_hash_key)
    # Service mail ignores marketing choices but never goes to a dead or complaining address.
    if is_suppressed(session, email_hash, BLOCKS["service"]):
        return Skip("suppressed", "address is suppressed (bounce or complaint)")
    email = build_service(msg, to, contact, settings, t, r)
    return Ready(email, _nothing, _suppress_if_dead(session, email_hash))


def _marketing(
    session: AnySession, msg: OutboundMessage, settings: Settings, t: Tokens, r: Renderer
) -> Skip | Ready:
    # Lock the contact for the rest of this transaction, send included: an unsubscribe
    # updates the same row, so it waits for this send and no message leaves after it returns.
    contact = (
        session.scalar(select(Contact).where(Contact.id == msg.contact_id).with_for_update())
        if msg.contact_id
        else None
    )
    if contact is None:
        return Skip("cancelled", "contact deleted before sending")
    category = msg.category or ""
    if is_suppressed(session, contact.email_hash, BLOCKS["marketing"]):
        return Skip("suppressed", "address is on the suppression list")
    if not contacts.wants(session, contact, category, settings):
        return Skip("cancelled", f"contact does not receive {category} email")
    email = build_marketing(msg, contact, settings, t, r)
    return Ready(email, _nothing, _suppress_if_dead(session, contact.email_hash))
