"""Friend invitations: create, accept, remove, expire; the invitation email; counters."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the invitation email with the engine (the processing register has the
    scheduler run the expiry: `invites.privacy`)."""
    from invites.delivery import kinds
    from invites.invitations.mail import InvitationMail

    kinds.register(InvitationMail())
