"""Account holders: who they are, what they agreed to, and whether a category may reach them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from invites.accounts import eligibility
from invites.accounts.attributes import ATTRIBUTES
from invites.accounts.categories import CATEGORIES, MARKETING
from invites.accounts.models import ConsentEvent, Contact, ContactAttribute, Preference
from invites.core.config import Settings
from invites.core.db import AnySession
from invites.core.models import Suppression
from invites.core.suppression import Reason
from invites.delivery.models import OutboundMessage, Status
from invites.privacy.consent import consent_version

#: The wording a person saw when choosing on our own preference page.
PAGE_WORDING = "preference-centre-v1"


@dataclass(frozen=True)
class Change:
    """One requested preference change and where it came from."""

    category: str
    granted: bool
    source: str
    policy_version: str | None = None
    wording_version: str | None = None
    ip: str | None = None


def find(session: AnySession, user_id: str) -> Contact | None:
    """Return the contact for an app user id."""
    return session.scalar(select(Contact).where(Contact.user_id == user_id))


def by_public_id(session: AnySession, public_id: str) -> Contact | None:
    """Return the contact a link token names."""
    return session.scalar(select(Contact).where(Contact.public_id == public_id))


def upsert(
    session: AnySession,
    user_id: str,
    email: str,
    locale: str,
    name: str | None,
    settings: Settings,
    now: datetime,
    time_zone: str | None = None,
) -> tuple[Contact, bool]:
    """Create or update a contact; an address change keeps preferences and consent history."""
    contact = find(session, user_id)
    created = contact is None
    if contact is None:
        contact = Contact(public_id=secrets.token_urlsafe(16), user_id=user_id, created_at=now)
        session.add(contact)
    contact.email = email  # sealed, with its keyed hash (invites.core.atrest)
    contact.locale = locale
    contact.name = name
    contact.time_zone = time_zone
    contact.updated_at = now
    session.flush()
    return contact, created


def erase(session: AnySession, contact: Contact) -> None:
    """Delete a contact and everything tied to it, including unsent mail addressed to it."""
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.contact_id == contact.id, OutboundMessage.status == Status.PENDING)
        .values(status=Status.CANCELLED, last_error="contact deleted")
    )
    # Sent and failed rows keep their status for the sender's records but no content.
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.contact_id == contact.id)
        .values(context=None, subject=None, body_text=None, body_html=None, contact_id=None)
    )
    session.execute(delete(ConsentEvent).where(ConsentEvent.contact_id == contact.id))
    session.execute(delete(Preference).where(Preference.contact_id == contact.id))
    session.execute(delete(ContactAttribute).where(ContactAttribute.contact_id == contact.id))
    session.delete(contact)


def attributes(session: AnySession, contact: Contact) -> dict[str, str]:
    """The contact's declared attributes, as stored (canonical text), by name."""
    rows = session.execute(
        select(ContactAttribute.name, ContactAttribute.value).where(
            ContactAttribute.contact_id == contact.id
        )
    )
    return {name: value for name, value in rows if name in ATTRIBUTES}


def set_attributes(
    session: AnySession, contact: Contact, values: dict[str, str | None], now: datetime
) -> None:
    """Make `values` (checked, canonical: invites.accounts.attributes.parse_all) the contact's
    whole set of attributes: a name left out or given as None is no longer held."""
    kept = {name: value for name, value in values.items() if value is not None}
    session.execute(
        delete(ContactAttribute).where(
            ContactAttribute.contact_id == contact.id, ContactAttribute.name.not_in(kept)
        )
    )
    for name, value in kept.items():
        row = session.get(ContactAttribute, (contact.id, name))
        if row is None:
            row = ContactAttribute(contact_id=contact.id, name=name)
            session.add(row)
        if row.value != value:
            row.value, row.number = value, ATTRIBUTES[name].number_of(value)
            row.updated_at = now
    session.flush()


def current(session: AnySession, contact: Contact, settings: Settings) -> dict[str, bool]:
    """The contact's state for every category by the one eligibility rule, suppression aside:
    their choice or the default, and a partner consent that a policy change voided is off."""
    wanted = session.execute(
        select(*(eligibility.wants(name, settings).label(name) for name in CATEGORIES)).where(
            Contact.id == contact.id
        )
    ).one()
    return {name: bool(getattr(wanted, name)) for name in CATEGORIES}


def apply(
    session: AnySession, contact: Contact, changes: list[Change], settings: Settings, now: datetime
) -> list[str]:
    """Apply preference changes, logging each real grant or withdrawal; return what changed.

    Each records the policy version it names, which must be published (else
    UnknownPolicyVersion, before anything is written), or the version in force.
    """
    version = {
        named: consent_version(session, named, now.date(), settings.privacy_policy_version)
        for named in {change.policy_version for change in changes}
    }
    # Touching the contact row takes its lock, so an unsubscribe waits for a send that already
    # passed its eligibility check, and returns only when no further message can leave.
    session.execute(update(Contact).where(Contact.id == contact.id).values(updated_at=now))
    changed = []
    for change in changes:
        category = CATEGORIES[change.category]
        if not category.can_opt_out:
            raise ValueError(f"{change.category} email cannot be turned off")
        existing = session.get(Preference, (contact.id, change.category))
        under = version[change.policy_version]
        # A default state counts as unchosen: an explicit choice equal to it is still logged.
        # A grant repeated under another policy version is a new consent (after a partner-
        # sharing change, the only one that counts).
        if (
            existing is not None
            and existing.granted == change.granted
            and (not change.granted or existing.policy_version == under)
        ):
            continue
        if existing is None:
            session.add(
                Preference(
                    contact_id=contact.id,
                    category=change.category,
                    granted=change.granted,
                    updated_at=now,
                    policy_version=under,
                )
            )
        else:
            existing.granted, existing.updated_at = change.granted, now
            existing.policy_version = under
        session.add(
            ConsentEvent(
                contact_id=contact.id,
                category=change.category,
                granted=change.granted,
                source=change.source,
                policy_version=under,
                wording_version=change.wording_version,
                ip=change.ip,
                created_at=now,
            )
        )
        changed.append(change.category)
    if any(c.granted for c in changes):
        # An explicit grant is a new request: an earlier "unsubscribe from all" no longer holds.
        session.execute(
            delete(Suppression).where(
                Suppression.email_hash == contact.email_hash,
                Suppression.reason == Reason.UNSUBSCRIBED_ALL,
            )
        )
    session.flush()
    return changed


def withdraw_marketing(
    session: AnySession,
    contact: Contact,
    source: str,
    settings: Settings,
    now: datetime,
    **proof: Any,
) -> list[str]:
    """Withdraw every marketing category (unsubscribe from all, or a complaint)."""
    return apply(
        session,
        contact,
        [Change(name, False, source, **proof) for name in MARKETING],
        settings,
        now,
    )


def consent_log(session: AnySession, contact: Contact) -> list[ConsentEvent]:
    """Every consent event of a contact, oldest first."""
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.contact_id == contact.id)
            .order_by(ConsentEvent.id)
        )
    )
