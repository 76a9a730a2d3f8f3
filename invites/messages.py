"""Service and marketing email: queue a message, and build it at send time. No HTTP here."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from markupsafe import Markup

from mailer import Renderer, render_sandboxed

from . import relay
from .categories import CATEGORIES
from .config import Settings
from .db import AnySession
from .emails import compose_rendered, link
from .models import Contact, OutboundMessage
from .tokens import Tokens

#: Service templates the API may send (files under templates/email/<locale>/).
SERVICE_TEMPLATES = ("account_welcome", "security_alert", "policy_update")
#: Variables the service fills in itself; a caller must not (and need not) send them.
PROVIDED = frozenset({"preferences_url", "unsubscribe_url"})
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
        kind="service",
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
        kind="marketing",
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
) -> EmailMessage:
    """Render a service message: From the service address, no one-click header."""
    context: dict[str, Any] = json.loads(msg.context or "{}")
    # Mail to a bare address (no account) has no preference centre to point to.
    context["preferences_url"] = (
        preferences_url(settings, t, contact, "service") if contact else link(settings, "/")
    )
    rendered = r.render(msg.template or "", msg.locale or "en", context)
    return compose_rendered(rendered, settings.mail_from_service, to)


def build_marketing(
    msg: OutboundMessage, contact: Contact, settings: Settings, t: Tokens, r: Renderer
) -> EmailMessage:
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
