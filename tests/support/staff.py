"""Helpers for console tests: staff users, signing in, and form tokens taken from pages."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from invites.core.db import db, utcnow
from invites.staff import Role, StaffError, StaffUser, twofactor, users

PASSWORD = "correct horse battery"  # noqa: S105 - a test password
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
#: The hidden fields a campaign page's forms carry: the version and status it was made from.
SEEN_INPUT = re.compile(r'name="(seen_version|seen_status)" value="([^"]*)"')


def make_staff(
    app: Flask,
    email: str,
    role: Role = Role.MARKETING,
    password: str = PASSWORD,
    time_zone: str | None = None,
) -> int:
    """Create a staff user in the app's database; return their id."""
    with app.app_context():
        user = users.create_user(
            db.session, email, password, role, now=utcnow(), time_zone=time_zone
        )
        db.session.commit()
        user_id = user.id
        db.session.remove()
    return user_id


def label_of(app: Flask, email: str) -> str:
    """How records name this staff user's account ("staff #7"): never by the address."""
    with app.app_context():
        user = users.find_by_email(db.session, email)
        assert user is not None, f"no staff user {email}"
        label = user.label
        db.session.remove()
    return label


def form_token(client: FlaskClient, path: str = "/console/login") -> str:
    """The CSRF token of the first form on a page, as a browser would submit it."""
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    found = CSRF_INPUT.search(page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(
    client: FlaskClient, email: str, password: str = PASSWORD, **headers: str
) -> TestResponse:
    """Submit the sign-in form as a browser does (token from the page)."""
    token = form_token(client)
    return client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": token},
        headers=headers,
    )


def signed_in(app: Flask, email: str, role: Role = Role.MARKETING) -> FlaskClient:
    """A client signed in as a new staff user with this role."""
    make_staff(app, email, role)
    client = app.test_client()
    done = sign_in(client, email)
    assert done.status_code == 302, done.text
    return client


def page_fields(client: FlaskClient, path: str) -> dict[str, str]:
    """The hidden fields a browser would submit with a form of this page: the CSRF token and,
    on a campaign's pages, the version and status the page shows (and a confirmation)."""
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    found = CSRF_INPUT.search(page.text)
    assert found, f"no CSRF token on {path}"
    # `confirmed`: as the confirmation page before Send, Schedule and Cancel adds it. Tests of
    # a step take the confirmation as given; test_console_confirm tests the confirmation.
    return {
        "csrf_token": found.group(1),
        **dict(SEEN_INPUT.findall(page.text)),
        "confirmed": "yes",
    }


def post_form(
    client: FlaskClient, path: str, data: Mapping[str, object], page: str
) -> TestResponse:
    """POST a console form with the hidden fields of the page it is on (`data` wins)."""
    return client.post(path, data={**page_fields(client, page), **data})


def enrol_two_factor(app: Flask, user_id: int) -> tuple[str, list[str]]:
    """Turn on two-factor sign-in for a staff user; return the TOTP secret and recovery codes.

    The set-up is confirmed with the previous time step's code, so the current step's and the
    next one's codes are still free for signing in (a code is good only once)."""
    with app.app_context():
        user = db.session.get(StaffUser, user_id)
        assert user is not None
        box = twofactor.sealer(app.config["SETTINGS"])
        secret = twofactor.begin(db.session, user, box)
        db.session.commit()
        codes: list[str] = []
        for _ in range(2):  # a second try only if the clock crossed a step meanwhile
            previous = pyotp.TOTP(secret).at(time.time() - 30)
            try:
                codes = twofactor.confirm(db.session, user, box, previous, now=utcnow())
                break
            except StaffError:
                db.session.rollback()
        assert codes, "the set-up was not confirmed"
        db.session.commit()
        db.session.remove()
    return secret, codes


def totp_code(secret: str, offset_steps: int = 0) -> str:
    """The code an authenticator app shows now (or `offset_steps` windows later)."""
    return str(pyotp.TOTP(secret).at(time.time() + 30 * offset_steps))
