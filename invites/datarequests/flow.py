"""A data request's life: started (a link mailed only when something is held), opened once
through that link, then answered; a newer request for the same address voids older links.

Every step is in the audit log under the keyed hash of the address, never the address.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update

from invites.accounts import contacts
from invites.accounts.models import Contact
from invites.core import audit
from invites.core.addresses import address_hash
from invites.core.config import Settings
from invites.core.db import AnySession
from invites.core.models import Suppression
from invites.core.suppression import Reason, suppress
from invites.core.tokens import TokenError, TokenExpired, Tokens
from invites.datarequests.models import DataRequest, RequestStatus
from invites.delivery import relay
from invites.delivery.models import OutboundMessage
from invites.invitations.models import Invitation
from invites.staff import StaffUser

#: How long a mailed link works.
LINK_SECONDS = 24 * 3600
#: How long the data page stays open after the link was used (in this browser only).
PAGE_SECONDS = 3600
KIND = "data_request"
TEMPLATE = "data_request"
#: What the audit log names the thing acted on: the keyed hash of an address.
TARGET = "address"


class LinkRefused(Exception):
    """A data-request link that can't open the page, and why: invalid, expired, used, voided."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"data request link {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Holder:
    """Whom a link is mailed to for an address: its contact, or the bare address."""

    contact: Contact | None
    email: str
    locale: str


def holder(session: AnySession, email: str, settings: Settings, locale: str) -> Holder | None:
    """Who holds this address here, if anything is held about it (else None)."""
    email_hash = address_hash(email, settings.address_hash_key)
    contact = session.scalar(
        select(Contact).where(Contact.email_hash == email_hash).order_by(Contact.id).limit(1)
    )
    if contact is not None:
        return Holder(contact, contact.email, contact.locale)
    held = session.execute(
        select(
            exists().where(Invitation.email_hash == email_hash),
            exists().where(Suppression.email_hash == email_hash),
        )
    ).one()
    return Holder(None, email, locale) if any(held) else None


def start(
    session: AnySession,
    email: str,
    settings: Settings,
    now: datetime,
    *,
    locale: str,
    staff: StaffUser | None = None,
    ip: str | None = None,
) -> DataRequest:
    """Record a request for a normalised address and, when something is held, queue its link.

    The same rows are written either way (a request record and an audit event) so the two
    answers cost about the same; the caller pads the answer's time on top of that.
    """
    email_hash = address_hash(email, settings.address_hash_key)
    # A newer request voids every older link, used or not: only the latest one opens the page.
    session.execute(
        update(DataRequest)
        .where(
            DataRequest.email_hash == email_hash,
            DataRequest.status.in_([RequestStatus.SENT, RequestStatus.OPENED]),
        )
        .values(status=RequestStatus.SUPERSEDED, closed_at=now)
    )
    found = holder(session, email, settings, locale)
    request = DataRequest(
        public_id=secrets.token_urlsafe(16),
        email_hash=email_hash,
        source="staff" if staff is not None else "self",
        staff_user_id=staff.id if staff is not None else None,
        status=RequestStatus.SENT if found else RequestStatus.NOTHING_HELD,
        locale=found.locale if found else locale,
        created_at=now,
        closed_at=None if found else now,
    )
    session.add(request)
    session.flush()
    if found is not None:
        message = OutboundMessage(
            public_id=secrets.token_urlsafe(12),
            kind=KIND,
            category="service",
            contact_id=found.contact.id if found.contact else None,
            # A bare address only until the message is final (the engine erases it then).
            to_email=None if found.contact else found.email,
            locale=found.locale,
            template=TEMPLATE,
            context=json.dumps({"request": request.public_id}),
            created_at=now,
            next_attempt_at=now,
        )
        session.add(message)
        session.flush()
        relay.wake(session, message.id)
    record(
        session,
        request,
        "data_request.create",
        "link_sent" if found else "nothing_held",
        now,
        staff=staff,
        ip=ip,
    )
    return request


def record(
    session: AnySession,
    request: DataRequest,
    action: str,
    outcome: str,
    now: datetime,
    *,
    staff: StaffUser | None = None,
    ip: str | None = None,
    **detail: object,
) -> None:
    """Audit one step of a request: the keyed hash, the action, the time, the outcome."""
    audit.record(
        session,
        actor=staff,
        action=action,
        target_type=TARGET,
        target_id=request.email_hash,
        detail={"request": request.id, "source": request.source, "outcome": outcome, **detail},
        ip=ip,
        now=now,
    )


def link_token(tokens: Tokens, request: DataRequest) -> str:
    """The token a request's link carries: its random id, signed with its own salt."""
    return tokens.make("data_request", request.public_id)


def check_link(session: AnySession, tokens: Tokens, token: str, now: datetime) -> DataRequest:
    """The request a link names, if the link may still open the page (else LinkRefused)."""
    try:
        public_id = tokens.load("data_request", token, LINK_SECONDS)
    except TokenExpired as exc:
        raise LinkRefused("expired") from exc
    except TokenError as exc:
        raise LinkRefused("invalid") from exc
    request = session.scalar(select(DataRequest).where(DataRequest.public_id == public_id))
    if request is None or request.status == RequestStatus.NOTHING_HELD:
        raise LinkRefused("invalid")
    if request.status == RequestStatus.SUPERSEDED:
        raise LinkRefused("superseded")
    if request.status != RequestStatus.SENT:
        raise LinkRefused("used")
    if now - request.created_at > timedelta(seconds=LINK_SECONDS):
        raise LinkRefused("expired")
    return request


def use_link(session: AnySession, request: DataRequest, now: datetime, ip: str | None) -> None:
    """Spend the link: one conditional UPDATE, so two clicks at once open the page once."""
    done = session.execute(
        update(DataRequest)
        .where(DataRequest.id == request.id, DataRequest.status == RequestStatus.SENT)
        .values(status=RequestStatus.OPENED, opened_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkRefused("used")
    session.refresh(request)
    record(session, request, "data_request.open", "opened", now, ip=ip)


def open_request(session: AnySession, public_id: str, now: datetime) -> DataRequest | None:
    """The request whose data page this browser may see now (opened, not voided, not old)."""
    request = session.scalar(select(DataRequest).where(DataRequest.public_id == public_id))
    if request is None or request.status != RequestStatus.OPENED or request.opened_at is None:
        return None
    if now - request.opened_at > timedelta(seconds=PAGE_SECONDS):
        return None
    return request


def note_action(request: DataRequest, action: str) -> None:
    """Add what the person did to the request's record (once per kind of action)."""
    done = [a for a in (request.actions or "").split(",") if a]
    if action not in done:
        request.actions = ",".join([*done, action])


def stop_marketing(
    session: AnySession,
    email: str,
    settings: Settings,
    now: datetime,
    staff: StaffUser,
    ip: str | None,
) -> int:
    """Record "stop all marketing" for an address someone wrote in about (a suppression, and a
    withdrawal in each of its contacts' consent logs); return how many contacts it has."""
    email_hash = address_hash(email, settings.address_hash_key)
    suppress(session, email_hash, Reason.UNSUBSCRIBED_ALL, now)
    found = list(session.scalars(select(Contact).where(Contact.email_hash == email_hash)))
    for contact in found:
        contacts.withdraw_marketing(session, contact, "support", settings, now)
    audit.record(
        session,
        actor=staff,
        action="data_request.stop_marketing",
        target_type=TARGET,
        target_id=email_hash,
        detail={"source": "staff", "outcome": "suppressed"},
        ip=ip,
        now=now,
    )
    return len(found)
