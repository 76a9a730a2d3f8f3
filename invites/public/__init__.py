"""Pages reached from links in email. The signed token is the credential; GET changes nothing."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the invitation pages and the preference centre."""
    from invites.public import pages, preferences

    pages.init_app(app)
    preferences.init_app(app)
