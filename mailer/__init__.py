"""SpotCam Mail delivery engine: compose, render and send email, independent of the web app."""

from __future__ import annotations

from mailer.compose import Outgoing, compose, message_id
from mailer.errors import MailError, PermanentError, TransientError, UnknownOutcome, redact
from mailer.headers import HeaderError, Mailbox, parse_mailbox
from mailer.outbox import OutboxEntry, OutboxMessage, list_outbox, read_outbox
from mailer.render import Rendered, Renderer, UnknownTemplate, UnsafeTemplate, render_sandboxed
from mailer.transport import OutboxTransport, SMTPTransport, Transport, transport_from_url

__all__ = [
    "HeaderError",
    "MailError",
    "Mailbox",
    "OutboxEntry",
    "OutboxMessage",
    "OutboxTransport",
    "Outgoing",
    "PermanentError",
    "Rendered",
    "Renderer",
    "SMTPTransport",
    "TransientError",
    "Transport",
    "UnknownOutcome",
    "UnknownTemplate",
    "UnsafeTemplate",
    "compose",
    "list_outbox",
    "message_id",
    "parse_mailbox",
    "read_outbox",
    "redact",
    "render_sandboxed",
    "transport_from_url",
]
