"""Account holders: contacts, categories and consent, who may get what; their email."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register service and marketing mail with the engine."""
    from invites.accounts.mail import MarketingMail, ServiceMail
    from invites.delivery import kinds

    kinds.register(ServiceMail())
    kinds.register(MarketingMail())
