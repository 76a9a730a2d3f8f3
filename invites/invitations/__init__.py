"""Friend invitations: create, accept, remove, expire; the invitation email; counters."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the invitation email with the engine, and the hourly expiry."""
    from invites.core import periodic
    from invites.core.queue import MAIL_QUEUE
    from invites.delivery import kinds
    from invites.invitations.mail import InvitationMail

    kinds.register(InvitationMail())
    periodic.every(3600, "invites.invitations.jobs.expire_invitations", MAIL_QUEUE)
