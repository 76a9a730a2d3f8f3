"""Friend invitations: create, accept, remove, expire. No HTTP here."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    exists,
    insert,
    or_,
    select,
    update,
)

from invites.accounts.models import Contact
from invites.core.addresses import address_hash
from invites.core.atrest import vault
from invites.core.config import Settings
from invites.core.db import AnySession, bump, claim_window, run, run_alone
from invites.core.models import Suppression
from invites.core.suppression import Reason, Stream, suppress
from invites.delivery import relay
from invites.delivery.models import OutboundMessage, Status
from invites.invitations import limits
from invites.invitations.models import (
    AddressThrottle,
    Invitation,
    InvitationDailyStats,
    InvitationStatus,
    InviterDailyCount,
)

log = logging.getLogger(__name__)

OPEN = (InvitationStatus.PENDING, InvitationStatus.SENT)


@dataclass(frozen=True)
class NewInvitation:
    """A validated invitation request (text already cleaned)."""

    inviter_id: str
    inviter_name: str
    email: str
    locale: str
    note: str | None


class InvitationClosed(Exception):
    """The invitation was removed, expired or bounced and can no longer be accepted."""


class AlreadyAccepted(Exception):
    """The invitation was accepted by a different user."""


def count(session: AnySession, now: datetime, **increments: int) -> None:
    """Add to today's aggregate invitation counters."""
    bump(session, InvitationDailyStats.__table__, {"day": now.date()}, **increments)


def create(
    session: AnySession,
    req: NewInvitation,
    settings: Settings,
    now: datetime,
    alone: bool = False,
    bind: Engine | Connection | None = None,
) -> int | None:
    """Record an invitation and its outbox row; return the message id, or None if nothing is sent.

    Raises limits.LimitExceeded. The caller commits; the wake-up written with the message has
    the relay enqueue its job. `alone` says nothing else is to commit with it: on PostgreSQL,
    where this is one statement, it then commits by itself (the caller's commit has nothing
    left to do). `bind` is the session's engine, when the caller has it at hand: on that path
    no Session need exist at all.
    """
    h = address_hash(req.email, settings.address_hash_key)
    bind = bind or session.get_bind()
    if bind.dialect.name == "postgresql":
        return _create_in_database(session, bind, req, h, settings, now, alone)
    limits.count_day(session, req.inviter_id, now, settings.invites_per_inviter_day)
    # One read answers both the monthly limit and whether the address is held back.
    params = {"inviter": req.inviter_id, "first": limits.first_day(now), "h": h}
    row: tuple[Any, ...] = tuple(run(session, ("precheck",), _precheck, params).one())
    limits.check_month(
        session, req.inviter_id, now, int(row[0]), settings.invites_per_inviter_month
    )
    if row[1] or not claim_window(
        session,
        AddressThrottle.__table__,
        {"email_hash": h},
        "invited_at",
        now,
        _window_cutoff(settings, now),
    ):
        # Same answer as a fresh invitation; only an aggregate counter records it.
        count(session, now, suppressed=1)
        return None
    # Prebuilt Core inserts: this is the API's hot path, and no ORM unit of work is needed.
    invitation_id = run(
        session,
        ("new-invitation",),
        _returning_id(Invitation.__table__),
        {
            "public_id": secrets.token_urlsafe(16),
            "email": vault(settings).seal_address(_PLACE, req.email, h),
            "email_hash": h,
            "inviter_id": req.inviter_id,
            "inviter_name": req.inviter_name,
            "note": req.note,
            "locale": req.locale,
            "status": InvitationStatus.PENDING,
            "created_at": now,
        },
    ).scalar_one()
    message = {
        "kind": Stream.INVITATION,
        "invitation_id": invitation_id,
        "status": Status.PENDING,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
    }
    message_id = int(
        run(
            session, ("new-message",), _returning_id(OutboundMessage.__table__), message
        ).scalar_one()
    )
    relay.wake(session, message_id)
    return message_id


def _window_cutoff(settings: Settings, now: datetime) -> datetime:
    return now - timedelta(days=settings.invite_address_window_days)


# The same steps as the Python path above, as one PL/pgSQL function (migrations 0003, 0004): the
# invitation API's throughput is bound by round trips, and this makes it one.
#: Where an invitee's address is sealed (invites.core.atrest); the hot paths insert it by hand.
_PLACE = "invitations.email"

_CREATE_IN_DATABASE = (
    "SELECT outcome, message_id FROM spotcam_create_invitation("
    "%(inviter_id)s, %(inviter_name)s, %(note)s, %(email)s, %(email_hash)s, %(locale)s, "
    "%(public_id)s, %(now)s, %(per_day)s, %(per_month)s, %(first_day)s, %(window_cutoff)s, "
    "%(synchronous_commit)s)"
)


def _create_in_database(
    session: AnySession,
    bind: Engine | Connection,
    req: NewInvitation,
    h: str,
    settings: Settings,
    now: datetime,
    alone: bool,
) -> int | None:
    params = {
        "inviter_id": req.inviter_id,
        "inviter_name": req.inviter_name,
        "note": req.note,
        "email": vault(settings).seal_address(_PLACE, req.email, h),
        "email_hash": h,
        "locale": req.locale,
        "public_id": secrets.token_urlsafe(16),
        "now": now,
        "per_day": settings.invites_per_inviter_day,
        "per_month": settings.invites_per_inviter_month,
        "first_day": limits.first_day(now),
        "window_cutoff": _window_cutoff(settings, now),
        "synchronous_commit": settings.invitation_synchronous_commit,
    }
    # Straight to psycopg: SQLAlchemy's execution layer would cost this request more CPU than
    # the call itself. Alone, it commits by itself, and may run again on a fresh connection if
    # the pooled one was dead: a second run can't send a second email (the address window holds
    # it back), at worst it counts the request twice against the inviter's limits; the first
    # run's message, if it committed unseen, is the reconciler's to wake.
    if alone:
        row = run_alone(bind, _CREATE_IN_DATABASE, params, retry_dead=True)
    else:
        driver: Any = session.connection().connection.driver_connection
        row = driver.execute(_CREATE_IN_DATABASE, params, prepare=True).fetchone()
    outcome, message_id = row
    if outcome == "per_day":
        raise limits.day_exceeded(now)
    if outcome == "per_month":
        # The function took the refused request back out of the counts.
        per_month = settings.invites_per_inviter_month
        raise limits.month_exceeded(session, req.inviter_id, now, per_month, uncounted=1)
    if outcome == "held":
        return None
    if outcome != "queued" or message_id is None:
        raise RuntimeError(f"spotcam_create_invitation answered {outcome!r}")
    return int(message_id)


def _returning_id(table: Table) -> Callable[[str], Any]:
    return lambda _dialect: insert(table).returning(table.c.id)


def _precheck(_dialect: str) -> Any:
    h: Any = bindparam("h")
    suppressed = select(Suppression.id).where(Suppression.email_hash == h)
    accepted = select(Invitation.id).where(
        Invitation.email_hash == h, Invitation.status == InvitationStatus.ACCEPTED
    )
    member = select(Contact.id).where(Contact.email_hash == h)
    # Held back: suppressed, or already a SpotCam account (accepted, or a synced contact).
    held_back = or_(exists(suppressed), exists(accepted), exists(member))
    return select(limits.month_total(bindparam("inviter"), bindparam("first")), held_back)


def _erase(inv: Invitation, status: str, now: datetime, keep_inviter: bool = False) -> None:
    # The purpose has ended: only the keyed hash (for the removal link) and counters remain.
    inv.email = None
    inv.inviter_name = None
    inv.note = None
    if not keep_inviter:
        inv.inviter_id = None
    inv.status = status
    inv.closed_at = now


def _cancel_messages(session: AnySession, invitation_ids: list[int]) -> None:
    if invitation_ids:
        session.execute(
            update(OutboundMessage)
            .where(
                OutboundMessage.invitation_id.in_(invitation_ids),
                OutboundMessage.status == Status.PENDING,
            )
            .values(status=Status.CANCELLED, last_error="invitation closed before sending")
        )


def find(session: AnySession, public_id: str) -> Invitation | None:
    """Return the invitation with this public id."""
    return session.scalar(select(Invitation).where(Invitation.public_id == public_id))


def accept(session: AnySession, public_id: str, user_id: str, now: datetime) -> bool:
    """Mark an invitation accepted and erase the address; return False if it already was.

    Raises LookupError (unknown), InvitationClosed, AlreadyAccepted.
    """
    inv = session.scalar(
        select(Invitation).where(Invitation.public_id == public_id).with_for_update()
    )
    if inv is None:
        raise LookupError(public_id)
    if inv.status == InvitationStatus.ACCEPTED:
        if inv.accepted_user_id == user_id:
            return False
        raise AlreadyAccepted(public_id)
    if inv.status not in OPEN:
        raise InvitationClosed(inv.status)
    inviter_id = inv.inviter_id
    _erase(inv, InvitationStatus.ACCEPTED, now, keep_inviter=True)
    inv.accepted_user_id = user_id
    _cancel_messages(session, [inv.id])
    count(session, now, accepted=1)
    if inviter_id:
        bump(
            session,
            InviterDailyCount.__table__,
            {"inviter_id": inviter_id, "day": now.date()},
            accepted=1,
        )
    return True


def remove(session: AnySession, inv: Invitation, now: datetime) -> bool:
    """Erase the address from every invitation holding it and suppress it; False if already done."""
    h = inv.email_hash
    if h is None:
        return False
    holding = session.scalars(
        select(Invitation)
        .where(Invitation.email_hash == h, Invitation.email_sealed.is_not(None))
        .with_for_update()
    ).all()
    for other in holding:
        _erase(
            other,
            InvitationStatus.REMOVED if other.status in OPEN else other.status,
            now,
            keep_inviter=other.status == InvitationStatus.ACCEPTED,
        )
    _cancel_messages(session, [other.id for other in holding])
    added = suppress(session, h, Reason.REMOVED, now)
    if added or holding:
        count(session, now, removed=1)
    return bool(added or holding)


def expire(session: AnySession, now: datetime, window: timedelta) -> int:
    """Close invitations older than `window` and erase their addresses; return how many."""
    # A batch per run; rows another worker holds are left for the next run.
    return _close(
        session, Invitation.created_at < now - window, InvitationStatus.EXPIRED, now, batch=1000
    )


def forget_removal_hashes(session: AnySession, before: datetime) -> int:
    """Erase the keyed hash from invitations closed before `before`; return how many.

    A hash outlives the address only as long as a removal link can still be used.
    """
    result = session.execute(
        update(Invitation)
        .where(
            Invitation.closed_at < before,
            Invitation.status != InvitationStatus.ACCEPTED,
            Invitation.email_hash.is_not(None),
        )
        .values(email_hash=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def forget_address_throttles(session: AnySession, before: datetime) -> int:
    """Forget when addresses were invited, for invitations made before `before`."""
    result = session.execute(
        AddressThrottle.__table__.delete().where(AddressThrottle.invited_at < before)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def mark_sent(session: AnySession, inv: Invitation, now: datetime) -> None:
    """The invitation email was accepted by the mail server: count it."""
    inv.status, inv.sent_at = InvitationStatus.SENT, now
    count(session, now, sent=1)
    if inv.inviter_id:
        bump(
            session,
            InviterDailyCount.__table__,
            {"inviter_id": inv.inviter_id, "day": now.date()},
            sent=1,
        )


def mark_unknown(session: AnySession, inv: Invitation, now: datetime) -> None:
    """The email may have arrived: keep the invitation open (its links work), count it apart.

    It is never sent again; the address goes when it is accepted, removed or expires.
    """
    if inv.status == InvitationStatus.PENDING:
        inv.status, inv.sent_at = InvitationStatus.SENT, now
    count(session, now, unknown=1)


def bounce(session: AnySession, inv: Invitation, now: datetime, address_is_dead: bool) -> None:
    """Close an invitation whose mail bounced; a dead address goes on the suppression list."""
    if address_is_dead and inv.email_hash:
        suppress(session, inv.email_hash, Reason.HARD_BOUNCE, now)
    _erase(inv, InvitationStatus.BOUNCED, now)
    count(session, now, bounced=1)


def close_for_address(session: AnySession, email_hash: str, now: datetime) -> int:
    """Close open invitations to an address that bounced or complained (reported by an event)."""
    return _close(session, Invitation.email_hash == email_hash, InvitationStatus.BOUNCED, now)


def erase_for_address(session: AnySession, email_hash: str, now: datetime) -> int:
    """Erase every invitation to an address (its owner asked): open ones close as removed and
    lose their unsent mail, and no row keeps the keyed hash; return how many there were."""
    _close(session, Invitation.email_hash == email_hash, InvitationStatus.REMOVED, now)
    every = session.execute(
        update(Invitation)
        .where(Invitation.email_hash == email_hash)
        .values(email_sealed=None, inviter_name=None, note=None, email_hash=None)
        .execution_options(synchronize_session=False)
    )
    return int(every.rowcount)  # type: ignore[attr-defined]


def _close(
    session: AnySession, condition: Any, status: str, now: datetime, batch: int | None = None
) -> int:
    """Close open invitations matching a condition: erase, cancel their mail, count them."""
    query = select(Invitation).where(Invitation.status.in_(OPEN), condition)
    if batch is not None:
        query = query.limit(batch).with_for_update(skip_locked=True)
    else:
        query = query.with_for_update()
    closed = session.scalars(query).all()
    for inv in closed:
        _erase(inv, status, now)
    _cancel_messages(session, [inv.id for inv in closed])
    if closed:
        count(session, now, **{status: len(closed)})
    return len(closed)
