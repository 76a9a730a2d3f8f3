"""CSRF protection for forms on pages (Flask-WTF), and the cookie session it keeps tokens in."""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()


class LazyCookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, without a signing serializer for cookieless requests."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Start an empty session when no cookie came; otherwise verify it as Flask does."""
        # API calls never send the cookie, yet Flask built a serializer for every one of them
        # (about 5% of a worker's CPU on the invitation API). Saving still builds one.
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Protect every form POST unless a blueprint or view is exempted."""
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 3600 * 8)
    app.session_interface = LazyCookieSessionInterface()
    csrf.init_app(app)
