"""What the preference centre says about policy versions: the one each choice was made
under (with a link to it in the archive), the one in force, and why a partner consent no
longer counts after a change to partner sharing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from invites.accounts.categories import CATEGORIES
from invites.accounts.models import Contact, Preference
from invites.core.db import AnySession
from invites.privacy import consent, versions
from invites.privacy.models import PolicyVersion


@dataclass(frozen=True)
class Choice:
    """A category's recorded choice: when, under which version, and whether it was voided."""

    chosen_on: date
    version: str | None
    #: The version is in the archive (so the page can link to it).
    archived: bool
    #: The partner-sharing change that voided this consent, if one did.
    voided_by: PolicyVersion | None


def choices(session: AnySession, contact: Contact, on: date) -> dict[str, Choice]:
    """The recorded choice per category (categories never chosen are left out)."""
    archived = {v.label for v in versions.published(session)}
    found: dict[str, Choice] = {}
    for pref in session.scalars(select(Preference).where(Preference.contact_id == contact.id)):
        category = CATEGORIES.get(pref.category)
        voided = None
        if category is not None and category.reconsent_on_sharing_change and pref.granted:
            voided = consent.sharing_change_against(session, pref.policy_version, on)
        found[pref.category] = Choice(
            pref.updated_at.date(), pref.policy_version, pref.policy_version in archived, voided
        )
    return found
