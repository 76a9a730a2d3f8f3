"""SpotCam Mail delivery engine: compose, render and send email, independent of the web app."""

from __future__ import annotations

from mailer.compose import compose, format_address, message_bytes
from mailer.errors import MailError, PermanentError, TransientError
from mailer.outbox import OutboxEntry, OutboxMessage, list_outbox, read_outbox
from mailer.render import Rendered, Renderer, UnknownTemplate, UnsafeTemplate, render_sandboxed
from mailer.transport import OutboxTransport, SMTPTransport, Transport, transport_from_url

__all__ = [
    "MailError",
    "OutboxEntry",
    "OutboxMessage",
    "OutboxTransport",
    "PermanentError",
    "Rendered",
    "Renderer",
    "SMTPTransport",
    "TransientError",
    "Transport",
    "UnknownTemplate",
    "UnsafeTemplate",
    "compose",
    "format_address",
    "list_outbox",
    "message_bytes",
    "read_outbox",
    "render_sandboxed",
    "transport_from_url",
]
