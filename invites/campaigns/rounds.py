"""A round of a batch: the contacts it locks, and what decides, now, whether each may get mail.

A round holds, for at most `ROUND_SECONDS` and `ROUND_SIZE` contacts, the contact rows it is
about to mail: `FOR NO KEY UPDATE`, the same lock an unsubscribe's update takes, so an
unsubscribe that arrives mid-round waits for the round and no message of that category
leaves after it returns. Eligibility is read by a second query once the locks are held: on
PostgreSQL a statement that waited for a row lock re-reads that row but not the other tables
it joins, so one query that both locked and judged would miss an unsubscribe committed while
it waited. Each statement reads afresh (READ COMMITTED), so the second sees every change that
committed before the lock was granted, and none can commit after it. On SQLite (one writer,
no row locks) the round's query is the send-time check.

The locks live on a connection of the round's own, taken from the pool for the round and
given back after it: its transaction only holds locks (it is rolled back), and must end with
the round whatever the ledger's connections commit meanwhile.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, bindparam, literal, not_, or_, select

from invites.accounts import eligibility
from invites.accounts.models import Contact
from invites.campaigns import segments
from invites.campaigns.models import CampaignDelivery, Delivery
from invites.core.config import Settings

#: Contacts locked and mailed per round, and the longest a round holds their locks: what an
#: unsubscribe arriving mid-campaign waits for at most.
ROUND_SIZE = 100
ROUND_SECONDS = 0.5

_LEDGER = CampaignDelivery.__table__


def leaves(row: Any) -> bool:
    """Whether the round's reading lets this row's message leave now."""
    return not (row.suppressed or row.unwanted or row.wrong_locale)


class RoundQueries:
    """The two statements of a round for one campaign, built once per run (each round only
    binds its parameters: a statement object keeps its cache key)."""

    def __init__(
        self, settings: Settings, category: str, locale: str | None, segment: str | None = None
    ) -> None:
        self._lock = self._lock_due()
        self._rows = self._due_rows(settings, category, locale, segment)

    def lock(self, conn: Connection, batch_id: int, now: Any) -> list[int]:
        """Lock the contact rows of up to ROUND_SIZE due ledger rows; return their ids."""
        return list(conn.execute(self._lock, {"batch": batch_id, "now": now}).scalars())

    def rows(self, conn: Connection, batch_id: int, now: Any, ids: list[int]) -> list[Any]:
        """The locked contacts' due rows, with what decides whether each may get mail now."""
        params = {"batch": batch_id, "now": now, "ids": ids}
        return list(conn.execute(self._rows, params).all())

    @staticmethod
    def _due() -> Any:
        return and_(
            _LEDGER.c.batch_id == bindparam("batch"),
            _LEDGER.c.status == Delivery.QUEUED,
            _LEDGER.c.next_attempt_at <= bindparam("now"),
        )

    def _lock_due(self) -> Any:
        query = (
            select(_LEDGER.c.contact_id)
            .join(Contact, Contact.id == _LEDGER.c.contact_id)
            .where(self._due())
            .order_by(_LEDGER.c.contact_id)
            .limit(ROUND_SIZE)
        )
        # NO KEY UPDATE: the lock an unsubscribe's UPDATE of the contact row needs, while the
        # ledger's inserts and updates (key-share locks through its foreign key) still pass.
        return query.with_for_update(of=Contact, key_share=True)

    def _due_rows(
        self, settings: Settings, category: str, locale: str | None, segment: str | None
    ) -> Any:
        suppressed = eligibility.suppressed_for(category)
        unwanted = not_(eligibility.wants(category, settings))
        wrong_locale = (Contact.locale != locale) if locale else literal(False)
        # Out of the campaign's segment now (an attribute changed after planning): skipped too.
        wrong_locale = or_(wrong_locale, not_(segments.clause(segment)))
        return (
            select(
                _LEDGER.c.id.label("ledger_id"),
                _LEDGER.c.contact_id,
                _LEDGER.c.attempts,
                Contact.email_sealed.label("email_sealed"),
                Contact.name,
                Contact.locale,
                Contact.public_id,
                Contact.email_hash,
                suppressed.label("suppressed"),
                unwanted.label("unwanted"),
                wrong_locale.label("wrong_locale"),
            )
            .join(Contact, Contact.id == _LEDGER.c.contact_id)
            .where(self._due(), _LEDGER.c.contact_id.in_(bindparam("ids", expanding=True)))
            .order_by(_LEDGER.c.contact_id)
        )
