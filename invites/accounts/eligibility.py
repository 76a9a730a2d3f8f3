"""Who may receive a category now: the one rule, as SQL, for every send path.

A single marketing message checks its contact with it, a campaign's planner picks its audience
with it, a campaign batch re-checks each contact with it at send time, and the editor counts
the audience with it. Written once, so the four can never disagree. Service mail (a campaign
that is a policy notice) reaches every contact whose address isn't dead or complaining.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, false, literal, not_, select

from invites.accounts.categories import CATEGORIES
from invites.accounts.models import Contact, Preference
from invites.core.config import Settings
from invites.core.db import AnySession
from invites.core.models import Suppression
from invites.core.suppression import BLOCKS, Stream, is_suppressed
from invites.delivery.models import Status
from invites.privacy.consent import consent_is_current


def _granted(category: str) -> Any:
    conditions = [
        Preference.contact_id == Contact.id,
        Preference.category == category,
        Preference.granted.is_(True),
    ]
    if CATEGORIES[category].reconsent_on_sharing_change:
        # Partner offers: a consent given under a policy version older than a partner-sharing
        # change now in force no longer counts (invites.privacy.consent).
        conditions.append(consent_is_current(Preference.policy_version))
    return exists(select(Preference.contact_id).where(*conditions))


def _withdrawn(category: str) -> Any:
    return exists(
        select(Preference.contact_id).where(
            Preference.contact_id == Contact.id,
            Preference.category == category,
            Preference.granted.is_(False),
        )
    )


def suppressed_for(category: str) -> Any:
    """The contact's address is on the suppression list for a reason that stops this category
    (service mail stops only for a dead or complaining address)."""
    stream = Stream.MARKETING if CATEGORIES[category].can_opt_out else Stream.SERVICE
    return exists(
        select(Suppression.id).where(
            Suppression.email_hash == Contact.email_hash,
            Suppression.reason.in_(BLOCKS[stream]),
        )
    )


def suppressed_for_marketing() -> Any:
    """The contact's address is on the suppression list for a reason that stops marketing."""
    return suppressed_for("promotional")


def wants(category: str, settings: Settings) -> Any:
    """The contact's choice (or the category's default) lets this category through."""
    cat = CATEGORIES[category]
    if not cat.can_opt_out:
        return literal(True)
    if cat.opt_in_only:
        # Partner offers: only with a recorded consent.
        return _granted(category)
    if cat.default(settings.promotional_default):
        return not_(_withdrawn(category))
    return _granted(category)


def may_receive(category: str, settings: Settings, locale: str | None = None) -> Any:
    """A condition on Contact: this category may reach the contact right now."""
    if category not in CATEGORIES:
        return false()
    parts = [wants(category, settings), not_(suppressed_for(category))]
    if locale is not None:
        parts.append(Contact.locale == locale)
    return and_(*parts)


def blocked(
    session: AnySession, contact: Contact, category: str, settings: Settings
) -> tuple[str, str] | None:
    """Why `category` may not reach this contact now, as (status, reason); None if it may.

    The rule every send path applies at send time, and what the tests ask.
    """
    if not CATEGORIES[category].can_opt_out:
        # Service mail ignores marketing choices but never goes to a dead or complaining address.
        if is_suppressed(session, contact.email_hash, BLOCKS[Stream.SERVICE]):
            return Status.SUPPRESSED, "address is suppressed (bounce or complaint)"
        return None
    suppressed, unwanted = session.execute(
        select(suppressed_for_marketing(), not_(wants(category, settings))).where(
            Contact.id == contact.id
        )
    ).one()
    if suppressed:
        return Status.SUPPRESSED, "address is on the suppression list"
    if unwanted:
        return Status.CANCELLED, f"contact does not receive {category} email"
    return None
