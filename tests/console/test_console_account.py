"""Your own account in the console: change the password (current one required, other
sessions end, audited without the password), with password checks counted like sign-ins."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from invites.core import audit
from invites.core.config import Settings
from invites.core.db import db, utcnow
from invites.staff import users

from ..support.helpers import make_app
from ..support.staff import PASSWORD, make_staff, post_form, sign_in

NEW = "a much better passphrase"  # noqa: S105 - a test password


def _change(client: FlaskClient, current: str, new: str, again: str | None = None) -> TestResponse:
    form = {
        "current_password": current,
        "new_password": new,
        "new_password_again": new if again is None else again,
    }
    return post_form(client, "/console/account/password", form, "/console/account")


def test_change_your_password_and_your_other_sessions_end(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    here, laptop = app.test_client(), app.test_client()
    sign_in(here, "mia@example.com")
    sign_in(laptop, "mia@example.com")
    page = here.get("/console/account")
    assert page.status_code == 200 and 'id="change-password"' in page.text
    assert 'id="account-link"' in here.get("/console/").text  # reached from every page

    wrong = _change(here, "not my password", NEW)
    assert wrong.status_code == 400 and "the current password is not right" in wrong.text
    differ = _change(here, PASSWORD, NEW, NEW + "!")
    assert differ.status_code == 400 and "The two new passwords differ" in differ.text
    short = _change(here, PASSWORD, "short one")
    assert short.status_code == 400 and "at least 12 characters" in short.text
    for refused in (wrong, differ, short):
        assert NEW not in refused.text and PASSWORD not in refused.text  # nothing typed shown
    assert laptop.get("/console/").status_code == 200  # nothing changed yet

    done = _change(here, PASSWORD, NEW)
    assert done.status_code == 303 and done.headers["Location"] == "/console/account"
    assert (
        "Your password is changed. Your other sessions have ended."
        in here.get("/console/account").text
    )
    assert here.get("/console/").status_code == 200  # this browser stays signed in
    assert laptop.get("/console/").status_code == 302  # the other one is out
    assert sign_in(app.test_client(), "mia@example.com", PASSWORD).status_code == 200
    assert sign_in(app.test_client(), "mia@example.com", NEW).status_code == 302
    with app.app_context():
        actions = [e.action for e in audit.events_for(db.session, "staff_user", mia_id)]
        everything = " ".join(str(e.detail) for e in audit.recent(db.session))
    assert "staff.password_changed" in actions and "staff.password_change_failed" in actions
    assert NEW not in everything and PASSWORD not in everything


def test_guessing_the_current_password_is_limited_like_sign_in(
    app: Flask, settings: Settings
) -> None:
    limited = make_app(settings, login_limit_per_account="3 per 15 minutes")
    make_staff(limited, "mia@example.com")
    client = limited.test_client()
    assert sign_in(client, "mia@example.com").status_code == 302  # 1 of 3
    for _ in range(2):
        assert _change(client, "a wrong guess!", NEW).status_code == 400
    refused = _change(client, PASSWORD, NEW)
    assert refused.status_code == 429 and "Too many" in refused.text
    assert int(refused.headers["Retry-After"]) > 0
    with limited.app_context():
        assert users.check_password(db.session, "mia@example.com", PASSWORD, now=utcnow())
