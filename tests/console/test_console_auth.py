"""Signing in to the console: one answer for every refusal, sessions that really end, and a
session cookie that is HttpOnly, SameSite=Lax and (outside development and test) Secure."""

from __future__ import annotations

import re
import time

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from invites.console.access import SIGNED_IN_AT
from invites.core.config import Settings
from invites.core.db import db, utcnow
from invites.staff import Role, StaffUser, users

from ..support.helpers import clear_tables, make_app, must_get
from ..support.staff import PASSWORD, form_token, make_staff, sign_in


def test_sign_in_shows_home_then_sign_out(app: Flask) -> None:
    make_staff(app, "boss@example.com", Role.ADMIN)
    client = app.test_client()
    assert client.get("/console/").headers["Location"] == "/console/login?next=/console/"
    done = sign_in(client, "Boss@Example.com")
    assert done.status_code == 302 and done.headers["Location"] == "/console/"
    home = client.get("/console/")
    assert home.status_code == 200
    assert 'id="role">admin<' in home.text and "boss@example.com" in home.text
    for section in ("Staff users", "API keys", "Audit log"):
        assert section in home.text
    out = client.post("/console/logout", data={"csrf_token": form_token(client, "/console/")})
    assert out.status_code == 302 and out.headers["Location"] == "/console/login"
    assert "You have signed out." in client.get("/console/login").text
    assert client.get("/console/").status_code == 302


def test_signing_out_ends_a_copied_cookie_too(app: Flask) -> None:
    make_staff(app, "boss@example.com", Role.ADMIN)
    client, thief = app.test_client(), app.test_client()
    sign_in(client, "boss@example.com")
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief.set_cookie("session", cookie.value)
    assert thief.get("/console/").status_code == 200  # the copy works while signed in
    client.post("/console/logout", data={"csrf_token": form_token(client, "/console/")})
    # A signed cookie can't be revoked by itself: the user's session token was replaced.
    assert thief.get("/console/").status_code == 302


def _answer(resp: TestResponse) -> tuple[int, str]:
    body = re.sub(r'name="csrf_token" value="[^"]+"', "", resp.text)
    return resp.status_code, re.sub(r'name="email" value="[^"]*"', "", body)


def test_wrong_password_and_unknown_email_get_the_same_answer(app: Flask) -> None:
    make_staff(app, "ann@example.com")
    wrong = sign_in(app.test_client(), "ann@example.com", "not the password")
    unknown = sign_in(app.test_client(), "nobody@example.com", "not the password")
    assert wrong.status_code == 200 and "match an active staff account" in wrong.text
    assert _answer(wrong) == _answer(unknown)
    assert "Set-Cookie" not in wrong.headers or "_user_id" not in wrong.headers["Set-Cookie"]


def test_a_disabled_user_is_signed_out_at_the_next_request_and_refused(app: Flask) -> None:
    user_id = make_staff(app, "mia@example.com")
    client = app.test_client()
    sign_in(client, "mia@example.com")
    assert client.get("/console/").status_code == 200
    with app.app_context():
        users.disable(db.session, must_get(StaffUser, user_id), actor=None, now=utcnow())
        db.session.commit()
    nxt = client.get("/console/")
    assert nxt.status_code == 302 and nxt.headers["Location"].startswith("/console/login")
    assert "Your session has ended" in client.get("/console/login").text
    with client.session_transaction() as session:
        assert "_user_id" not in session  # forgotten, not merely ignored
    refused = sign_in(client, "mia@example.com")
    assert refused.status_code == 200 and "match an active staff account" in refused.text
    with app.app_context():
        users.enable(db.session, must_get(StaffUser, user_id), actor=None, now=utcnow())
        db.session.commit()
    assert client.get("/console/").status_code == 302  # enabling doesn't revive old sessions
    assert sign_in(client, "mia@example.com").status_code == 302


def test_a_sign_in_lasts_console_session_hours(app: Flask) -> None:
    make_staff(app, "mia@example.com")
    client = app.test_client()
    sign_in(client, "mia@example.com")
    hours = app.config["SETTINGS"].console_session_hours
    with client.session_transaction() as session:
        session[SIGNED_IN_AT] = int(time.time()) - hours * 3600 + 60
    assert client.get("/console/").status_code == 200
    with client.session_transaction() as session:
        session[SIGNED_IN_AT] = int(time.time()) - hours * 3600 - 1
    assert client.get("/console/").status_code == 302


def test_next_stays_inside_the_console(app: Flask) -> None:
    make_staff(app, "boss@example.com", Role.ADMIN)
    client = app.test_client()
    for given, expected in (
        ("/console/users?x=1", "/console/users?x=1"),
        ("https://evil.example/console/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/api/v1/openapi.json", "/console/"),
    ):
        token = form_token(client)
        done = client.post(
            "/console/login",
            data={
                "email": "boss@example.com",
                "password": PASSWORD,
                "csrf_token": token,
                "next": given,
            },
        )
        assert done.headers["Location"] == expected, given
        client.post("/console/logout", data={"csrf_token": form_token(client, "/console/")})


def test_console_pages_are_private(app: Flask) -> None:
    page = app.test_client().get("/console/login")
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_the_api_opens_no_session(app: Flask) -> None:
    # The console's Flask-Login is attached without a hook on every response: an API answer
    # neither reads the session nor varies on the cookie.
    for path in ("/healthz", "/api/v1/openapi.json"):
        resp = app.test_client().get(path)
        assert "Vary" not in resp.headers and "Set-Cookie" not in resp.headers, path


@pytest.mark.parametrize("env", ["production", "development", "test"])
def test_the_login_cookie_is_httponly_lax_and_secure_outside_dev(
    settings: Settings, env: str
) -> None:
    app = make_app(settings, env=env, secret_key="s" * 40)
    clear_tables(app)
    make_staff(app, "boss@example.com", Role.ADMIN)
    # https, so that the test client keeps a Secure cookie as a browser would.
    client = app.test_client()
    page = client.get("/console/login", base_url="https://mail.spotcam.test")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    done = client.post(
        "/console/login",
        data={"email": "boss@example.com", "password": PASSWORD, "csrf_token": token.group(1)},
        base_url="https://mail.spotcam.test",
        # Flask-WTF checks the Referer over https; the console's Referrer-Policy sends it.
        headers={"Referer": "https://mail.spotcam.test/console/login"},
    )
    assert done.status_code == 302
    [cookie] = done.headers.getlist("Set-Cookie")
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert "httponly" in attributes
    assert attributes["samesite"] == "SameSite=Lax"
    assert ("secure" in attributes) is (env == "production")
    assert "expires" not in attributes  # gone when the browser closes
    clear_tables(app)
