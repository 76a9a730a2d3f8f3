"""Mail pieces every area uses: the file-template renderer, link tokens, absolute links, and
composing a rendered email from a configured sender."""

from __future__ import annotations

from flask import Flask, current_app

from invites.core.config import Settings
from invites.core.singletons import per_app
from invites.core.tokens import Tokens
from mailer import Mailbox, Outgoing, Rendered, Renderer, compose, parse_mailbox

#: This app's email template renderer (its index of templates is read once per process).
renderer = per_app(
    "renderer", lambda app: Renderer(app.config["TEMPLATE_ROOT"] + "/email", default_locale="en")
)


def tokens(app: Flask | None = None) -> Tokens:
    """The token maker for this app's keys (the current one signs, the fallbacks verify)."""
    settings = (app or current_app).config["SETTINGS"]
    return Tokens(settings.secret_key, tuple(settings.secret_key_fallbacks))


def link(settings: Settings, path: str) -> str:
    """Return an absolute public URL for a path."""
    return settings.public_base_url + path


def message_domain(sender: str | Mailbox) -> str:
    """The domain used in Message-IDs: the From address's domain."""
    return parse_mailbox(sender).address.rpartition("@")[2]


def compose_rendered(
    rendered: Rendered,
    sender: str | Mailbox,
    to: str,
    unsubscribe_url: str | None = None,
    message_id_local: str | None = None,
) -> Outgoing:
    """Compose a rendered email from `sender`, whose domain also names the Message-ID."""
    mailbox = parse_mailbox(sender)
    return compose(
        sender=mailbox,
        to=to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id_domain=message_domain(mailbox),
        unsubscribe_url=unsubscribe_url,
        message_id_local=message_id_local,
    )
