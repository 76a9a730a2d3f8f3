"""Email to staff: the password-reset link, sent through the outbox like service mail."""

from __future__ import annotations

import json

from invites.core import queue
from invites.core.db import AnySession
from invites.core.mail import compose_rendered, link
from invites.core.suppression import BLOCKS, Stream, is_suppressed
from invites.delivery.kinds import Context, NothingToRecord, Ready, Skip, Status
from invites.delivery.models import OutboundMessage
from invites.staff import recovery, users


class StaffMail(NothingToRecord):
    """A reset link to a staff member: signed when it is sent, for the account as it is then.

    Its outcome changes nothing else: a refused reset link suppresses no staff address, and
    one whose outcome is unknown is not resent (the admin can send another)."""

    name = recovery.KIND
    queue = queue.MAIL_QUEUE

    def prepare(self, session: AnySession, msg: OutboundMessage, ctx: Context) -> Skip | Ready:
        """Send unless the account is gone or disabled, or changed since the link was asked."""
        context = json.loads(msg.context or "{}")
        user = users.get(session, int(context.get("staff_user_id") or 0))
        if user is None or not user.is_active:
            return Skip(Status.CANCELLED, "staff account gone or disabled before sending")
        if recovery.account_state(user) != context.get("state"):
            # Signed in or given a new password meanwhile: the link would be refused anyway.
            return Skip(Status.CANCELLED, "staff account changed before sending")
        blocked = BLOCKS[Stream.SERVICE]
        if is_suppressed(session, user.email_hash, blocked):
            return Skip(Status.SUPPRESSED, "address is suppressed (bounce or complaint)")
        url = link(ctx.settings, "/console/reset/" + recovery.reset_token(ctx.tokens, user))
        minutes = recovery.RESET_LINK_SECONDS // 60
        rendered = ctx.renderer.render(
            msg.template or recovery.TEMPLATE,
            "en",  # the console is in English
            {"email": user.email, "reset_url": url, "minutes": minutes},
        )
        return Ready(compose_rendered(rendered, ctx.settings.mail_from_service, user.email))
