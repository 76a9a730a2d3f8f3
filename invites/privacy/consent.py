"""Consent tied to policy versions: which version a consent records, and whether a partner
consent still counts after a version that changes partner sharing took effect.

`consent_is_current` is SQL, so the one eligibility rule (invites.accounts.eligibility) can
use it in every send path's query; `sharing_change_against` answers the same question in
Python, for the pages that must say why.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Date, bindparam, exists, func, or_, select
from sqlalchemy.orm import aliased

from invites.core.db import AnySession
from invites.privacy.models import PolicyVersion
from invites.privacy.versions import by_label, in_force, today


class UnknownPolicyVersion(ValueError):
    """A consent named a policy version that has not been published."""

    def __init__(self, label: str) -> None:
        super().__init__(f"'{label}' is not a published privacy-policy version")
        self.label = label


def consent_version(session: AnySession, named: str | None, on: date, fallback: str) -> str:
    """The version a consent given on day `on` records: the one named, which must be
    published, or else the one in force (`fallback` only if the archive is empty)."""
    if named is not None:
        if by_label(session, named) is None:
            raise UnknownPolicyVersion(named)
        return named
    current = in_force(session, on)
    return current.label if current is not None else fallback


def _sharing_cutoff() -> Any:
    """The effective day of the latest partner-sharing change in force (NULL if none).

    "Today" is a parameter evaluated each time the statement runs, not when it was built:
    a campaign run that builds its statements once still sees a version take effect at
    midnight.
    """
    on = bindparam("policy_today", callable_=today, type_=Date, unique=True)
    return (
        select(func.max(PolicyVersion.effective_on))
        .where(
            PolicyVersion.changes_partner_sharing.is_(True),
            PolicyVersion.published_at.is_not(None),
            PolicyVersion.effective_on <= on,
        )
        .correlate(None)
        .scalar_subquery()
    )


def consent_is_current(label: Any) -> Any:
    """SQL: a partner consent recorded under version `label` (a column) still counts now.

    It stops counting once a version that changes partner sharing is in force and the
    consent was given under an earlier one; a label the archive doesn't hold counts as
    earlier than every version.
    """
    given = aliased(PolicyVersion)
    cutoff = _sharing_cutoff()
    return or_(
        cutoff.is_(None),
        exists(
            select(given.id).where(
                given.label == label,
                given.published_at.is_not(None),
                given.effective_on >= cutoff,
            )
        ),
    )


def sharing_change_against(
    session: AnySession, label: str | None, on: date
) -> PolicyVersion | None:
    """The partner-sharing change in force on day `on` that a consent given under `label`
    predates (why it stopped counting), or None while it counts."""
    change = session.scalar(
        select(PolicyVersion)
        .where(
            PolicyVersion.changes_partner_sharing.is_(True),
            PolicyVersion.published_at.is_not(None),
            PolicyVersion.effective_on <= on,
        )
        .order_by(PolicyVersion.effective_on.desc())
        .limit(1)
    )
    if change is None:
        return None
    given = by_label(session, label) if label else None
    if given is not None and given.effective_on >= change.effective_on:
        return None
    return change
