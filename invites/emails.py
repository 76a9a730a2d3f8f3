"""Build the invitation email from an invitation row (rendering and composing, no sending)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import parseaddr

from flask import Flask, current_app

from mailer import Rendered, Renderer, compose

from .config import Settings
from .models import Invitation
from .text import defang_links
from .tokens import Tokens


def renderer(app: Flask | None = None) -> Renderer:
    """Return the app's email template renderer (built once per process)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("spotcam_renderer")
    if found is None:
        found = Renderer(app.config["TEMPLATE_ROOT"] + "/email", default_locale="en")
        app.extensions["spotcam_renderer"] = found
    return found


def tokens(app: Flask | None = None) -> Tokens:
    """Return the token maker for this app's keys."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return Tokens(app.config["SECRET_KEY"], tuple(app.config["SECRET_KEY_FALLBACKS"]))


def link(settings: Settings, path: str) -> str:
    """Return an absolute public URL for a path."""
    return settings.public_base_url + path


def accept_url(settings: Settings, t: Tokens, public_id: str) -> str:
    """The accept page for an invitation."""
    return link(settings, "/i/" + t.make("accept", public_id))


def remove_url(settings: Settings, t: Tokens, public_id: str) -> str:
    """The removal page for an invitation (also the one-click unsubscribe URL)."""
    return link(settings, "/r/" + t.make("remove", public_id))


def message_domain(sender: str) -> str:
    """The domain used in Message-IDs: the From address's domain."""
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def invitation_message(inv: Invitation, settings: Settings, t: Tokens, r: Renderer) -> EmailMessage:
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


def compose_rendered(
    rendered: Rendered, sender: str, to: str, unsubscribe_url: str | None = None
) -> EmailMessage:
    """Compose a rendered email from `sender`, whose domain also names the Message-ID."""
    return compose(
        sender=sender,
        to=to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id_domain=message_domain(sender),
        unsubscribe_url=unsubscribe_url,
    )
