"""Build the invitation email from an invitation row (rendering and composing, no sending)."""

from __future__ import annotations

from datetime import datetime

from invites.core import queue
from invites.core.config import Settings
from invites.core.db import AnySession
from invites.core.mail import compose_rendered, link
from invites.core.suppression import BLOCKS, Stream, is_suppressed
from invites.core.text import defang_links
from invites.core.tokens import Tokens
from invites.delivery.kinds import Context, Ready, Skip, Status
from invites.delivery.models import OutboundMessage
from invites.invitations import lifecycle as invitations
from invites.invitations.models import Invitation
from mailer import Outgoing, Renderer
from mailer.classify import Verdict


def accept_url(settings: Settings, t: Tokens, public_id: str) -> str:
    """The accept page for an invitation."""
    return link(settings, "/i/" + t.make("accept", public_id))


def remove_url(settings: Settings, t: Tokens, public_id: str) -> str:
    """The removal page for an invitation (also the one-click unsubscribe URL)."""
    return link(settings, "/r/" + t.make("remove", public_id))


def invitation_message(inv: Invitation, settings: Settings, t: Tokens, r: Renderer) -> Outgoing:
    """Render and compose the one invitation email for this invitation."""
    assert inv.email is not None and inv.inviter_name is not None
    removal = remove_url(settings, t, inv.public_id)
    context = {
        "inviter_name": defang_links(inv.inviter_name),
        "note": defang_links(inv.note) if inv.note else None,
        "accept_url": accept_url(settings, t, inv.public_id),
        "remove_url": removal,
        "window_days": settings.invitation_window_days,
    }
    rendered = r.render("invitation", inv.locale, context)
    return compose_rendered(rendered, settings.mail_from_service, inv.email, removal)


class InvitationMail:
    """The one invitation email: sent while the invitation is open and the address not blocked."""

    name = Stream.INVITATION.value
    queue = queue.MAIL_QUEUE

    def prepare(self, session: AnySession, msg: OutboundMessage, ctx: Context) -> Skip | Ready:
        """Send only an open invitation to an address nobody asked us to leave alone."""
        inv = _invitation(session, msg)
        if inv is None or inv.email is None or inv.status not in invitations.OPEN:
            return Skip(Status.CANCELLED, "invitation closed before sending")
        if inv.email_hash and is_suppressed(session, inv.email_hash, BLOCKS[Stream.INVITATION]):
            return Skip(Status.SUPPRESSED, "address is on the suppression list")
        return Ready(invitation_message(inv, ctx.settings, ctx.tokens, ctx.renderer))

    def sent(self, session: AnySession, msg: OutboundMessage, now: datetime, ctx: Context) -> None:
        """The invitation went out: count it; the address stays until accepted or expired."""
        inv = _invitation(session, msg)
        if inv is not None:
            invitations.mark_sent(session, inv, now)

    def failed(
        self,
        session: AnySession,
        msg: OutboundMessage,
        now: datetime,
        ctx: Context,
        verdict: Verdict,
    ) -> None:
        """It can't be delivered: close it and erase the address (suppress it if dead)."""
        inv = _invitation(session, msg)
        if inv is not None and inv.status in invitations.OPEN:
            invitations.bounce(session, inv, now, verdict.dead_address)

    def unknown(
        self, session: AnySession, msg: OutboundMessage, now: datetime, ctx: Context
    ) -> None:
        """It may have arrived: keep its links working until the window ends, count it apart."""
        inv = _invitation(session, msg)
        if inv is not None:
            invitations.mark_unknown(session, inv, now)


def _invitation(session: AnySession, msg: OutboundMessage) -> Invitation | None:
    return session.get(Invitation, msg.invitation_id) if msg.invitation_id else None
