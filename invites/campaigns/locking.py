"""One step at a time per campaign: lock its row, read it afresh, refuse if it changed.

Two people click at once (Send while the other saves new content; Approve while the author
edits), or one person acts on a page that is minutes old. Every lifecycle step therefore
starts with `lock()`: on PostgreSQL a `SELECT … FOR UPDATE` of the campaign row, held until
the step's transaction ends, so a second step on the same campaign waits for the first to
commit and then sees what it did; the scheduler's tick and the sender's own status changes
update the same row and so queue behind it too. SQLite has no row locks: there the step
starts by writing the row (a no-op update), which takes the database's single write lock
until commit — the same order, for the whole database.

With the row locked, the step reads it again and compares it with what the person saw: a
console form carries the content version and the status of the page it was made from
(`Seen`), and a step on a campaign that has moved on since is refused (`Changed`) rather
than applied to something nobody looked at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select, update

from invites.campaigns.models import Campaign, CampaignStatus
from invites.core.db import AnySession


class CampaignError(ValueError):
    """A step that isn't possible now; the message says why, for the person who tried."""


class Changed(CampaignError):
    """The campaign changed between the page the person acted on and their step."""


@dataclass(frozen=True)
class Seen:
    """What the page a person acted on showed: the content version and the status."""

    version: int
    status: str

    @classmethod
    def of(cls, campaign: Campaign) -> Seen:
        """What a page made now from this campaign shows."""
        return cls(campaign.version, campaign.status)

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> Seen | None:
        """The `seen_version` and `seen_status` fields every campaign form carries, if valid."""
        version, status = form.get("seen_version", ""), form.get("seen_status", "")
        if not version.isdigit() or len(version) > 9 or status not in set(CampaignStatus):
            return None
        return cls(int(version), status)


def lock(session: AnySession, campaign: Campaign, seen: Seen | None = None) -> Campaign:
    """Lock the campaign's row until the transaction ends and read it afresh (in place).

    With `seen`, refuse (Changed) if its content version or status is no longer what the
    person's page showed.
    """
    table = Campaign.__table__
    if session.get_bind().dialect.name != "postgresql":
        # SQLite: writing the row takes the database's write lock, held until commit; a
        # step that comes second waits here (busy_timeout) and then reads the first's work.
        session.execute(
            update(table).where(table.c.id == campaign.id).values(version=table.c.version)
        )
    query = select(Campaign).where(Campaign.id == campaign.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    # populate_existing: the caller's object gets the row as it is now, not as first loaded.
    fresh = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if fresh is None:
        raise CampaignError("the campaign no longer exists")
    if seen is not None and Seen.of(fresh) != seen:
        raise Changed(
            f"the campaign changed since your page was loaded (you saw it {seen.status} "
            f"with content version {seen.version}; it is now {fresh.status} with version "
            f"{fresh.version}): look at it again, then decide"
        )
    return fresh
