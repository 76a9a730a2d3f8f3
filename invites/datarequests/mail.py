"""The two kinds of mail a data request sends: the link to the data page, to the address
asked about, and the confirmation of a new address, to that new address.

Both are signed when they are sent, and only while they can still be used: a link voided by a
newer request before its message left is not sent at all.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from invites.accounts.models import Contact
from invites.core import queue
from invites.core.addresses import address_hash
from invites.core.db import AnySession
from invites.core.mail import compose_rendered, link
from invites.core.suppression import Reason, is_suppressed
from invites.datarequests import corrections, flow
from invites.datarequests.models import AddressChange, DataRequest, RequestStatus
from invites.delivery.kinds import Context, NothingToRecord, Ready, Skip, Status
from invites.delivery.models import OutboundMessage


def _dead(session: AnySession, to: str, ctx: Context) -> bool:
    # Only a dead address stops these: a person who once complained or unsubscribed still
    # asked for this message themselves.
    email_hash = address_hash(to, ctx.settings.address_hash_key)
    return is_suppressed(session, email_hash, [Reason.HARD_BOUNCE])


class DataRequestMail(NothingToRecord):
    """The link that opens the data page, to the address the request is about."""

    name = flow.KIND
    queue = queue.MAIL_QUEUE

    def prepare(self, session: AnySession, msg: OutboundMessage, ctx: Context) -> Skip | Ready:
        """Send unless the request was voided or the recipient erased meanwhile."""
        public_id = json.loads(msg.context or "{}").get("request", "")
        request = session.scalar(select(DataRequest).where(DataRequest.public_id == public_id))
        if request is None or request.status != RequestStatus.SENT:
            return Skip(Status.CANCELLED, "a newer request voided this link before sending")
        contact = session.get(Contact, msg.contact_id) if msg.contact_id else None
        to = contact.email if contact else msg.to_email
        if to is None:
            return Skip(Status.CANCELLED, "recipient erased before sending")
        if _dead(session, to, ctx):
            return Skip(Status.SUPPRESSED, "address is suppressed (hard bounce)")
        url = link(ctx.settings, "/privacy/request/" + flow.link_token(ctx.tokens, request))
        rendered = ctx.renderer.render(
            msg.template or flow.TEMPLATE,
            msg.locale or "en",
            {"data_url": url, "hours": flow.LINK_SECONDS // 3600},
        )
        return Ready(compose_rendered(rendered, ctx.settings.mail_from_service, to))


class AddressChangeMail(NothingToRecord):
    """The link that confirms a new address, to that new address."""

    name = corrections.KIND
    queue = queue.MAIL_QUEUE

    def prepare(self, session: AnySession, msg: OutboundMessage, ctx: Context) -> Skip | Ready:
        """Send unless the change was replaced, confirmed or erased meanwhile."""
        public_id = json.loads(msg.context or "{}").get("change", "")
        change = session.scalar(select(AddressChange).where(AddressChange.public_id == public_id))
        if change is None or msg.to_email is None:
            return Skip(Status.CANCELLED, "the address change is gone")
        if _dead(session, msg.to_email, ctx):
            return Skip(Status.SUPPRESSED, "address is suppressed (hard bounce)")
        url = link(ctx.settings, "/privacy/address/" + corrections.change_token(ctx.tokens, change))
        rendered = ctx.renderer.render(
            msg.template or corrections.TEMPLATE,
            msg.locale or "en",
            {"confirm_url": url, "hours": corrections.CHANGE_SECONDS // 3600},
        )
        return Ready(compose_rendered(rendered, ctx.settings.mail_from_service, msg.to_email))
