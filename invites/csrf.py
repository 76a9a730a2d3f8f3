"""CSRF protection for forms on pages (Flask-WTF); API and link endpoints are exempt."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    """Protect every form POST unless a blueprint or view is exempted."""
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 3600 * 8)
    csrf.init_app(app)
