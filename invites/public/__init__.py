"""Pages reached from links in email. The signed token is the credential; GET changes nothing."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the invitation pages, the preference centre and the privacy pages."""
    from invites.public import data_requests, pages, preferences, privacy_pages

    pages.init_app(app)
    preferences.init_app(app)
    privacy_pages.init_app(app)
    data_requests.init_app(app)
