"""The audit log: who did what to which thing, when and from where. Append-only.

Code only ever inserts here (`record`); on PostgreSQL a trigger (migration 0006) refuses any
UPDATE or DELETE, except the foreign key's own SET NULL when a staff user row goes, which
keeps the `actor` snapshot. `detail` never holds a recipient's personal data (no address, no
name): it is kept for good, long after the person it would name has been erased.

A staff user is named by their account ("staff #7", with `actor_id`), never by their sign-in
address: addresses are stored only sealed (invites.core.atrest). Pages show the account's
current address next to the label; a search by part of an address opens the staff table's
addresses (a small table) to find the accounts it names.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ForeignKey, Index, String, Text, func, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from invites.core.db import AnySession, db, utcnow
from invites.core.search import contains


class Actor(Protocol):
    """Whoever acts: a staff user (only its id and label are read), or an operator at the
    command line (no id, a label such as "cli (deploy)")."""

    @property
    def id(self) -> int | None:
        """The staff user's id, if it is one."""

    @property
    def label(self) -> str:
        """Who it is, as the log shows it: `staff_label(id)` for a staff user."""


#: The start of every staff user's label; what follows is the account's id.
STAFF_LABEL = "staff #"


def staff_label(staff_id: int) -> str:
    """How records name a staff account: "staff #7" (its address is kept only sealed)."""
    return f"{STAFF_LABEL}{staff_id}"


@dataclass(frozen=True)
class Operator:
    """An operator at the command line: no staff account, known by the shell's login name."""

    label: str
    id: None = None


def operator() -> Operator:
    """The operator running this command, as the log shows them: "cli (deploy)"."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):  # no USER/LOGNAME and no passwd entry (some containers)
        name = "unknown"
    return Operator(f"cli ({name})")


class AuditEvent(db.Model):  # type: ignore[name-defined]
    """One recorded action. Never updated, never deleted."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), index=True
    )
    #: Who it was, as a label: "staff #7" (the account, never its address; it stays after
    #: the account row goes) or "cli (deploy)" for an operator at the command line.
    actor: Mapped[str | None] = mapped_column(String(320))
    #: Dotted and short: "staff.login", "api_key.revoked", "campaign.send".
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    #: JSON object or NULL.
    detail: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_events_target", "target_type", "target_id", "at"),)

    @property
    def details(self) -> dict[str, Any]:
        """The detail as a dict (empty when none)."""
        return json.loads(self.detail) if self.detail else {}


def record(
    session: AnySession,
    *,
    actor: Actor | None,
    action: str,
    target_type: str | None,
    target_id: str | int | None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Add an event to the session; it commits with the change it describes.

    `actor` None means the system or an operator at the command line. `detail` must be
    JSON-serialisable and hold no recipient's personal data.
    """
    event = AuditEvent(
        at=now or utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor=actor.label if actor is not None else None,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        detail=json.dumps(detail, sort_keys=True, ensure_ascii=False) if detail else None,
        ip=ip,
    )
    session.add(event)
    return event


def events_for(
    session: AnySession, target_type: str, target_id: str | int, limit: int = 200
) -> list[AuditEvent]:
    """The events about one thing, newest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.target_type == target_type, AuditEvent.target_id == str(target_id))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def recent(session: AnySession, limit: int = 200) -> list[AuditEvent]:
    """The latest events about anything, newest first."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    return list(session.scalars(query))


#: Rows per page of the audit log.
PAGE_SIZE = 50


@dataclass(frozen=True)
class Filter:
    """What the audit log page narrows to; an empty field matches everything.

    `actor` and `action` match part of the text (case-insensitive); `actor` also matches the
    events of the staff accounts in `actor_ids` (those whose address holds the text: the
    caller opens the addresses, which the log doesn't keep). `since` and `before` are naive
    UTC bounds (the page turns the viewer's dates into them), `before` exclusive.
    """

    actor: str = ""
    actor_ids: frozenset[int] = frozenset()
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    since: datetime | None = None
    before: datetime | None = None


@dataclass(frozen=True)
class Page:
    """One page of events, newest first, and where it lies among all that match."""

    events: list[AuditEvent]
    number: int
    pages: int
    total: int


def search(session: AnySession, where: Filter, page: int = 1, size: int = PAGE_SIZE) -> Page:
    """The events matching `where`, newest first, one page of `size` (pages count from 1)."""
    conditions: list[Any] = []
    if where.actor:
        by_label = contains(AuditEvent.actor, where.actor)
        if where.actor_ids:
            by_label = or_(by_label, AuditEvent.actor_id.in_(sorted(where.actor_ids)))
        conditions.append(by_label)
    if where.action:
        conditions.append(contains(AuditEvent.action, where.action))
    if where.target_type:
        conditions.append(AuditEvent.target_type == where.target_type)
    if where.target_id:
        conditions.append(AuditEvent.target_id == where.target_id)
    if where.since is not None:
        conditions.append(AuditEvent.at >= where.since)
    if where.before is not None:
        conditions.append(AuditEvent.at < where.before)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    pages = max(1, -(-total // size))
    number = min(max(1, page), pages)
    query = (
        select(AuditEvent)
        .where(*conditions)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .offset((number - 1) * size)
        .limit(size)
    )
    return Page(list(session.scalars(query)), number, pages, total)


def target_types(session: AnySession) -> list[str]:
    """The kinds of thing events are about, for the page's filter."""
    query = select(AuditEvent.target_type).where(AuditEvent.target_type.is_not(None)).distinct()
    return sorted(t for t in session.scalars(query) if t)
