"""Service and marketing email: queue a message, and build it at send time. No HTTP here."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy import select

from invites.accounts import eligibility
from invites.accounts.categories import CATEGORIES
from invites.accounts.models import Contact
from invites.core import queue
from invites.core.addresses import address_hash
from invites.core.config import Settings
from invites.core.db import AnySession
from invites.core.mail import compose_rendered, link
from invites.core.suppression import BLOCKS, Reason, Stream, is_suppressed, suppress
from invites.core.tokens import Tokens
from invites.delivery import relay
from invites.delivery.kinds import Context, Ready, Skip, Status
from invites.delivery.models import OutboundMessage
from mailer import Outgoing, Renderer, render_sandboxed
from mailer.classify import Verdict

#: Service templates the API may send (files under templates/email/<locale>/).
SERVICE_TEMPLATES = ("account_welcome", "security_alert", "policy_update")
#: Variables the service fills in itself; a caller must not (and need not) send them.
PROVIDED = frozenset({"preferences_url", "unsubscribe_url", "no_account"})
MAX_CONTEXT_VALUE = 2000


class InvalidContext(ValueError):
    """The context doesn't match what the template needs."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def check_context(renderer: Renderer, template: str, context: dict[str, Any]) -> dict[str, str]:
    """Return the context as strings if it has exactly the variables the template uses."""
    needed = renderer.variables(template) - PROVIDED
    errors = [
        {"field": f"context.{name}", "message": "required by the template"}
        for name in sorted(needed - set(context))
    ]
    errors += [
        {"field": f"context.{name}", "message": "not used by the template"}
        for name in sorted(set(context) - needed)
    ]
    for name, value in context.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            errors.append({"field": f"context.{name}", "message": "must be a string or number"})
        elif len(str(value)) > MAX_CONTEXT_VALUE:
            errors.append(
                {"field": f"context.{name}", "message": f"at most {MAX_CONTEXT_VALUE} characters"}
            )
    if errors:
        raise InvalidContext(errors)
    return {name: str(value) for name, value in context.items()}


def queue_service(
    session: AnySession,
    *,
    contact: Contact | None,
    email: str | None,
    template: str,
    locale: str,
    context: dict[str, str],
    now: datetime,
) -> OutboundMessage:
    """Write a service message and its wake-up to the outbox (the caller commits)."""
    msg = OutboundMessage(
        public_id=secrets.token_urlsafe(12),
        kind=ServiceMail.name,
        category="service",
        contact_id=contact.id if contact else None,
        to_email=None if contact else email,
        locale=locale,
        template=template,
        context=json.dumps(context),
        created_at=now,
        next_attempt_at=now,
    )
    session.add(msg)
    session.flush()
    relay.wake(session, msg.id)
    return msg


def queue_marketing(
    session: AnySession,
    contact: Contact,
    category: str,
    *,
    subject: str,
    body_html: str,
    body_text: str,
    now: datetime,
) -> OutboundMessage:
    """Write a marketing message to the outbox; whether it may go is decided when it is sent."""
    if category not in CATEGORIES or not CATEGORIES[category].can_opt_out:
        raise ValueError(f"{category!r} is not a marketing category")
    msg = OutboundMessage(
        public_id=secrets.token_urlsafe(12),
        kind=MarketingMail.name,
        category=category,
        contact_id=contact.id,
        locale=contact.locale,
        subject=subject,
        body_html=body_html,
        body_text=body_text,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(msg)
    session.flush()
    relay.wake(session, msg.id)
    return msg


def preferences_url(settings: Settings, t: Tokens, contact: Contact, category: str) -> str:
    """The preference centre link; for a marketing category it is also the one-click URL."""
    return link(settings, "/p/" + t.make("preferences", f"{contact.public_id}:{category}"))


def build_service(
    msg: OutboundMessage,
    to: str,
    contact: Contact | None,
    settings: Settings,
    t: Tokens,
    r: Renderer,
) -> Outgoing:
    """Render a service message: From the service address, no one-click header."""
    context: dict[str, Any] = json.loads(msg.context or "{}")
    # Mail to a bare address (no account) says so, and links to what this email is and what
    # is kept (nothing, once sent), rather than to a preference centre it doesn't have.
    context["no_account"] = contact is None
    context["preferences_url"] = (
        preferences_url(settings, t, contact, "service")
        if contact
        else link(settings, f"/about-this-email?lang={msg.locale or 'en'}")
    )
    rendered = r.render(msg.template or "", msg.locale or "en", context)
    return compose_rendered(rendered, settings.mail_from_service, to)


def build_marketing(
    msg: OutboundMessage, contact: Contact, settings: Settings, t: Tokens, r: Renderer
) -> Outgoing:
    """Render staff content in the sandbox, wrap it with the footer, add the RFC 8058 headers."""
    category = msg.category or ""
    unsubscribe = preferences_url(settings, t, contact, category)
    # Staff content sees only these names: a small variable set is part of the sandbox.
    variables = {"name": contact.name or "", "locale": contact.locale}
    layout = {
        "subject": render_sandboxed(msg.subject or "", variables, autoescape=False),
        "body_text": render_sandboxed(msg.body_text or "", variables, autoescape=False),
        "body_html": Markup(render_sandboxed(msg.body_html or "", variables)),  # noqa: S704
        "unsubscribe_url": unsubscribe,
        "preferences_url": unsubscribe,
    }
    rendered = r.render("marketing", contact.locale, layout)
    return compose_rendered(rendered, settings.mail_from_marketing, contact.email, unsubscribe)


def _recipient_hash(session: AnySession, msg: OutboundMessage) -> str | None:
    contact = session.get(Contact, msg.contact_id) if msg.contact_id else None
    if contact is not None:
        return contact.email_hash
    return msg.to_email_hash if msg.to_email_sealed else None


class _SuppressDeadAddress:
    """Shared outcome hooks: nothing to record but a dead address, which is suppressed."""

    def sent(self, session: AnySession, msg: OutboundMessage, now: datetime, ctx: Context) -> None:
        """Nothing else to record."""

    def unknown(
        self, session: AnySession, msg: OutboundMessage, now: datetime, ctx: Context
    ) -> None:
        """Nothing else to record."""

    def failed(
        self,
        session: AnySession,
        msg: OutboundMessage,
        now: datetime,
        ctx: Context,
        verdict: Verdict,
    ) -> None:
        """Suppress the address only if the server said it does not exist."""
        if not verdict.dead_address:
            return
        email_hash = _recipient_hash(session, msg)
        if email_hash:
            suppress(session, email_hash, Reason.HARD_BOUNCE, now)


class ServiceMail(_SuppressDeadAddress):
    """Account, security and policy mail: ignores marketing choices, never to a dead address."""

    name = Stream.SERVICE.value
    queue = queue.MAIL_QUEUE

    def prepare(self, session: AnySession, msg: OutboundMessage, ctx: Context) -> Skip | Ready:
        """Send unless the recipient was erased or bounced or complained."""
        contact = session.get(Contact, msg.contact_id) if msg.contact_id else None
        to = contact.email if contact else msg.to_email
        if to is None:
            return Skip(Status.CANCELLED, "recipient deleted before sending")
        if contact is not None:
            no = eligibility.blocked(session, contact, "service", ctx.settings)
            if no is not None:
                return Skip(Status(no[0]), no[1])
        elif is_suppressed(
            session, address_hash(to, ctx.settings.address_hash_key), BLOCKS[Stream.SERVICE]
        ):
            return Skip(Status.SUPPRESSED, "address is suppressed (bounce or complaint)")
        return Ready(build_service(msg, to, contact, ctx.settings, ctx.tokens, ctx.renderer))


class MarketingMail(_SuppressDeadAddress):
    """A promotional or partner message, sent only as the contact's choices allow right now."""

    name = Stream.MARKETING.value
    queue = queue.CAMPAIGN_QUEUE

    def prepare(self, session: AnySession, msg: OutboundMessage, ctx: Context) -> Skip | Ready:
        """Lock the contact through the send, so an unsubscribe waits for it, then decide."""
        # An unsubscribe updates the same row, so it waits for this send, and no message
        # leaves after it returns.
        contact = (
            session.scalar(select(Contact).where(Contact.id == msg.contact_id).with_for_update())
            if msg.contact_id
            else None
        )
        if contact is None:
            return Skip(Status.CANCELLED, "contact deleted before sending")
        no = eligibility.blocked(session, contact, msg.category or "", ctx.settings)
        if no is not None:
            return Skip(Status(no[0]), no[1])
        return Ready(build_marketing(msg, contact, ctx.settings, ctx.tokens, ctx.renderer))
