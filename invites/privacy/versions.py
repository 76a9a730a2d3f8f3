"""The policy archive read: which version is in force, each version's state and text.

A version is a draft until it is published; once published it never changes, and its state
follows from the dates alone: upcoming before its effective day, in force from that day until
a later version's, superseded after. Days are UTC days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import select

from invites.core.db import AnySession, utcnow
from invites.privacy.models import PolicyText, PolicyVersion

#: What a label may be: it names the version in consent records and in its public URL.
LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class Status(StrEnum):
    """Where a version stands on a given day."""

    DRAFT = "draft"
    UPCOMING = "upcoming"
    IN_FORCE = "in force"
    SUPERSEDED = "superseded"


def today() -> date:
    """The current UTC day, the unit of effective dates."""
    return utcnow().date()


def in_force(session: AnySession, on: date, excluding: int | None = None) -> PolicyVersion | None:
    """The published version with the latest effective day not after `on` (leaving out the
    version `excluding`, which is being published)."""
    return session.scalar(
        select(PolicyVersion)
        .where(
            PolicyVersion.published_at.is_not(None),
            PolicyVersion.effective_on <= on,
            PolicyVersion.id != (excluding or 0),
        )
        .order_by(PolicyVersion.effective_on.desc())
        .limit(1)
    )


def status(version: PolicyVersion, current: PolicyVersion | None, on: date) -> Status:
    """The version's state on day `on`, given the version in force then."""
    if version.published_at is None:
        return Status.DRAFT
    if version.effective_on > on:
        return Status.UPCOMING
    if current is not None and current.id == version.id:
        return Status.IN_FORCE
    return Status.SUPERSEDED


def published(session: AnySession) -> list[PolicyVersion]:
    """Every published version, the latest effective first."""
    return list(
        session.scalars(
            select(PolicyVersion)
            .where(PolicyVersion.published_at.is_not(None))
            .order_by(PolicyVersion.effective_on.desc())
        )
    )


def every_version(session: AnySession) -> list[PolicyVersion]:
    """Drafts and published versions, the latest effective first (for staff)."""
    return list(
        session.scalars(
            select(PolicyVersion).order_by(
                PolicyVersion.effective_on.desc(), PolicyVersion.id.desc()
            )
        )
    )


def by_label(session: AnySession, label: str) -> PolicyVersion | None:
    """The published version with this label (drafts are not public)."""
    return session.scalar(
        select(PolicyVersion).where(
            PolicyVersion.label == label, PolicyVersion.published_at.is_not(None)
        )
    )


def texts(session: AnySession, version: PolicyVersion) -> dict[str, PolicyText]:
    """The version's text and summary per locale."""
    rows = session.scalars(select(PolicyText).where(PolicyText.version_id == version.id))
    return {row.locale: row for row in rows}


def text_in(found: dict[str, PolicyText], locale: str) -> PolicyText:
    """The text in `locale`, else in English: a language added later has no text in the
    versions published before it, which must stay readable."""
    return found.get(locale) or found.get("en") or next(iter(found.values()))


@dataclass(frozen=True)
class Listed:
    """A version with its state, and the day a later version replaced it (if one has)."""

    version: PolicyVersion
    status: Status
    until: date | None = None


def with_status(session: AnySession, versions: list[PolicyVersion], on: date) -> list[Listed]:
    """The versions (drafts too) with their state on day `on`, for staff."""
    current = in_force(session, on)
    return [Listed(v, status(v, current, on)) for v in versions]


def archive(session: AnySession, on: date) -> list[Listed]:
    """Every published version with its state on day `on`, the latest effective first."""
    entries: list[Listed] = []
    later: PolicyVersion | None = None
    current = in_force(session, on)
    for version in published(session):
        state = status(version, current, on)
        until = later.effective_on if state == Status.SUPERSEDED and later else None
        entries.append(Listed(version, state, until))
        later = version
    return entries
