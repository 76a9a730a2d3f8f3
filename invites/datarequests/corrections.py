"""Corrections from the data page: the language mail is written in, and a new address, which
replaces the old one only once a link sent to the new address confirms it."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from invites.accounts.models import Contact
from invites.core.addresses import address_hash
from invites.core.config import Settings
from invites.core.db import AnySession
from invites.core.tokens import TokenError, Tokens
from invites.datarequests.models import AddressChange
from invites.delivery import relay
from invites.delivery.models import OutboundMessage

KIND = "address_change"
TEMPLATE = "address_change"
#: How long the confirmation link for a new address works.
CHANGE_SECONDS = 24 * 3600


def contacts_of(session: AnySession, email_hash: str) -> list[Contact]:
    """The contacts with this address (one, unless the app synced it to two accounts)."""
    return list(session.scalars(select(Contact).where(Contact.email_hash == email_hash)))


def set_language(session: AnySession, email_hash: str, locale: str, now: datetime) -> int:
    """Write future mail to this address in `locale`; return how many contacts changed."""
    done = session.execute(
        update(Contact)
        .where(Contact.email_hash == email_hash)
        .values(locale=locale, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


def ask_address_change(
    session: AnySession, contact: Contact, new_email: str, locale: str, now: datetime
) -> AddressChange:
    """Hold a new address for a contact and mail a confirmation link to it (an earlier
    unconfirmed change of the same contact is replaced)."""
    session.execute(delete(AddressChange).where(AddressChange.contact_id == contact.id))
    change = AddressChange(
        public_id=secrets.token_urlsafe(16),
        contact_id=contact.id,
        new_email=new_email,
        created_at=now,
    )
    session.add(change)
    session.flush()
    message = OutboundMessage(
        public_id=secrets.token_urlsafe(12),
        kind=KIND,
        category="service",
        to_email=new_email,
        locale=locale,
        template=TEMPLATE,
        context=json.dumps({"change": change.public_id}),
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    session.flush()
    relay.wake(session, message.id)
    return change


def change_token(tokens: Tokens, change: AddressChange) -> str:
    """The token of a change's confirmation link: its random id, signed with its own salt."""
    return tokens.make("address_change", change.public_id)


def pending_change(
    session: AnySession, tokens: Tokens, token: str, now: datetime
) -> AddressChange | None:
    """The change a confirmation link names, while it can still be confirmed."""
    try:
        public_id = tokens.load("address_change", token, CHANGE_SECONDS)
    except TokenError:
        return None
    change = session.scalar(select(AddressChange).where(AddressChange.public_id == public_id))
    if change is None or now - change.created_at > timedelta(seconds=CHANGE_SECONDS):
        return None
    return change


def confirm(
    session: AnySession, change: AddressChange, settings: Settings, now: datetime
) -> tuple[str, str]:
    """Put the confirmed address in place of the old one; return (old hash, new hash)."""
    contact = session.get(Contact, change.contact_id)
    assert contact is not None  # the change goes with its contact (ON DELETE CASCADE)
    old = contact.email_hash
    contact.email = change.new_email
    contact.email_hash = address_hash(change.new_email, settings.address_hash_key)
    contact.updated_at = now
    session.delete(change)
    session.flush()
    return old, contact.email_hash


def forget_unconfirmed(session: AnySession, before: datetime) -> int:
    """Erase address changes asked for before `before` and never confirmed."""
    done = session.execute(delete(AddressChange).where(AddressChange.created_at < before))
    return int(done.rowcount)  # type: ignore[attr-defined]
