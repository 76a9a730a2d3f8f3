"""Erasing an address: the one code path behind "Erase everything" on the data page and the
API's account deletion (`DELETE /api/v1/contacts/<user_id>`).

What goes: the contact, its preferences and consent history, pending address changes, every
invitation to the address, the content and recipient of every message tied to it, its
campaign delivery records (unlinked from it: a campaign's totals stay, tied to no one), and
its bounce and invite-throttle counters. What may stay is only what the processing register
says survives an erasure: the keyed hash on the do-not-contact list, when the person asks for
it, so that a later re-import can't write to them again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update

from invites.accounts import contacts
from invites.accounts.models import ConsentEvent, Contact, ContactAttribute, Preference
from invites.campaigns.models import CampaignDelivery
from invites.core.db import AnySession
from invites.core.models import Suppression
from invites.core.suppression import Reason, suppress
from invites.datarequests.models import AddressChange
from invites.delivery.models import OutboundMessage, Status
from invites.feedback.models import SoftBounceCount
from invites.invitations import lifecycle
from invites.invitations.models import AddressThrottle

#: What "keep a do-not-contact entry" records: no invitation and no marketing, ever, unless the
#: person grants a category again themselves (which lifts `unsubscribed_all`).
DO_NOT_CONTACT = (Reason.REMOVED, Reason.UNSUBSCRIBED_ALL)


@dataclass
class Erased:
    """How many of each thing an erasure removed (counts only: safe to log and audit)."""

    contacts: int = 0
    preferences: int = 0
    consent_events: int = 0
    attributes: int = 0
    invitations: int = 0
    messages: int = 0
    campaign_deliveries: int = 0
    address_changes: int = 0
    bounce_and_throttle_records: int = 0
    suppressions: int = 0
    do_not_contact_kept: bool = False

    def counts(self) -> dict[str, int | bool]:
        """The counts by name, for the audit log and the page that says what was erased."""
        return asdict(self)


def _count(session: AnySession, query: object) -> int:
    return int(session.scalar(query) or 0)  # type: ignore[call-overload]


def _erase_contact(session: AnySession, contact: Contact, erased: Erased) -> None:
    cid = contact.id
    erased.preferences += _count(session, select(func.count()).where(Preference.contact_id == cid))
    erased.consent_events += _count(
        session, select(func.count()).where(ConsentEvent.contact_id == cid)
    )
    erased.attributes += _count(
        session, select(func.count()).where(ContactAttribute.contact_id == cid)
    )
    erased.messages += _count(
        session, select(func.count()).where(OutboundMessage.contact_id == cid)
    )
    # Unlinked, not deleted: the row no longer says whom it was for, and the campaign's
    # counts (and a running campaign's batches) stay as they were.
    unlinked = session.execute(
        update(CampaignDelivery)
        .where(CampaignDelivery.contact_id == cid)
        .values(contact_id=None, reason=None)
        .execution_options(synchronize_session=False)
    )
    erased.campaign_deliveries += int(unlinked.rowcount)  # type: ignore[attr-defined]
    gone = session.execute(delete(AddressChange).where(AddressChange.contact_id == cid))
    erased.address_changes += int(gone.rowcount)  # type: ignore[attr-defined]
    contacts.erase(session, contact)
    erased.contacts += 1


def _erase_address(session: AnySession, email_hash: str, now: datetime, erased: Erased) -> None:
    erased.invitations += lifecycle.erase_for_address(session, email_hash, now)
    # Service mail to the bare address (no account), e.g. an earlier request's link: found by
    # the keyed hash kept next to the sealed address (any case of it).
    bare_mail = OutboundMessage.to_email_hash == email_hash
    session.execute(
        update(OutboundMessage)
        .where(bare_mail, OutboundMessage.status == Status.PENDING)
        .values(status=Status.CANCELLED, last_error="address erased")
    )
    bare = session.execute(
        update(OutboundMessage)
        .where(bare_mail)
        .values(
            {
                OutboundMessage.to_email_sealed: None,
                OutboundMessage.to_email_hash: None,
                OutboundMessage.context: None,
                OutboundMessage.subject: None,
                OutboundMessage.body_text: None,
                OutboundMessage.body_html: None,
            }
        )
        .execution_options(synchronize_session=False)
    )
    erased.messages += int(bare.rowcount)  # type: ignore[attr-defined]
    for model in (SoftBounceCount, AddressThrottle):
        gone = session.execute(delete(model).where(model.email_hash == email_hash))
        erased.bounce_and_throttle_records += int(gone.rowcount)  # type: ignore[attr-defined]


def erase_contact(session: AnySession, contact: Contact, now: datetime) -> Erased:
    """Erase an account holder and everything tied to their address (the API's deletion).

    The do-not-contact list is left as it is: a bounce or complaint recorded against the
    address still holds."""
    erased = Erased()
    email_hash = contact.email_hash
    _erase_contact(session, contact, erased)
    _erase_address(session, email_hash, now, erased)
    session.flush()
    return erased


def erase_address(
    session: AnySession, email_hash: str, now: datetime, *, keep_do_not_contact: bool
) -> Erased:
    """Erase everything held about an address (its owner asked, on the data page).

    With `keep_do_not_contact` the keyed hash stays on the do-not-contact list (no invitation,
    no marketing, besides any bounce or complaint already there); without it every
    suppression of the address goes too.
    """
    erased = Erased()
    found = list(session.scalars(select(Contact).where(Contact.email_hash == email_hash)))
    for contact in found:
        _erase_contact(session, contact, erased)
    _erase_address(session, email_hash, now, erased)
    if keep_do_not_contact:
        # What is on the list already (a bounce, a complaint) stays, with these added.
        for reason in DO_NOT_CONTACT:
            suppress(session, email_hash, reason, now)
        erased.do_not_contact_kept = True
    else:
        gone = session.execute(delete(Suppression).where(Suppression.email_hash == email_hash))
        erased.suppressions = int(gone.rowcount)  # type: ignore[attr-defined]
    session.flush()
    return erased
