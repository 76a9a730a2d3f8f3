"""Password-reset links in the console: an admin sends one (the console never shows it), its
page changes nothing on GET, the POST sets the password once, and an expired, used, altered
or other-purpose link gets a page that says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from werkzeug.test import TestResponse

from invites.core import audit
from invites.core.db import db
from invites.core.mail import tokens
from invites.delivery.models import OutboundMessage
from invites.staff import Role, StaffUser, recovery

from ..support.helpers import forge, must_get
from ..support.staff import (
    PASSWORD,
    form_token,
    label_of,
    make_staff,
    post_form,
    sign_in,
    signed_in,
)

NEW = "my new and better passphrase"  # noqa: S105 - a test password
AT = datetime(2031, 5, 4, 12, 0, tzinfo=UTC)


def _link(app: Flask, user_id: int) -> str:
    with app.app_context():
        token = recovery.reset_token(tokens(), must_get(StaffUser, user_id))
        db.session.remove()
    return f"/console/reset/{token}"


def _set(client: FlaskClient, path: str, password: str, again: str | None = None) -> TestResponse:
    data = {"password": password, "password_again": password if again is None else again}
    return client.post(path, data={**data, "csrf_token": form_token(client, path)})


def test_an_admin_sends_a_link_and_never_sees_it(app: Flask) -> None:
    boss = signed_in(app, "boss@example.com", Role.ADMIN)
    mia_id = make_staff(app, "mia@example.com")
    done = post_form(boss, f"/console/users/{mia_id}/reset-link", {}, "/console/users")
    assert done.status_code == 303
    page = boss.get("/console/users")
    assert "A password-reset link is on its way to mia@example.com" in page.text
    assert "/console/reset/" not in page.text and "/console/reset/" not in done.text
    with app.app_context():
        [msg] = db.session.scalars(select(OutboundMessage)).all()
        assert msg.kind == "staff"
        sent = audit.events_for(db.session, "staff_user", mia_id)[0]
        boss_label = label_of(app, "boss@example.com")
        assert (sent.action, sent.actor) == ("staff.password_reset_sent", boss_label)
    # Marketing can't send one (the route test checks every admin route; this is the story).
    marketing = signed_in(app, "max@example.com")
    refused = post_form(marketing, f"/console/users/{mia_id}/reset-link", {}, "/console/")
    assert refused.status_code == 403


def test_the_link_opens_a_form_and_its_post_sets_the_password_once(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    signed_elsewhere = app.test_client()
    sign_in(signed_elsewhere, "mia@example.com")
    path = _link(app, mia_id)
    writes: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    client = app.test_client()
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for method in ("GET", "HEAD"):
            page = client.open(path, method=method)
            assert page.status_code == 200
            assert page.headers["Referrer-Policy"] == "no-referrer"
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert writes == []
    assert 'id="set-password"' in client.get(path).text

    differ = _set(client, path, NEW, NEW + "?")
    assert differ.status_code == 400 and "The two passwords differ" in differ.text
    short = _set(client, path, "too short")
    assert short.status_code == 400 and "at least 12 characters" in short.text
    done = _set(client, path, NEW)
    assert done.status_code == 303 and done.headers["Location"] == "/console/login"
    assert "Your new password is set. Sign in with it." in client.get("/console/login").text
    assert signed_elsewhere.get("/console/").status_code == 302  # every session ended
    assert sign_in(app.test_client(), "mia@example.com", PASSWORD).status_code == 200
    assert sign_in(app.test_client(), "mia@example.com", NEW).status_code == 302
    # Used: the page says so, and a second POST changes nothing.
    used = client.get(path)
    assert used.status_code == 410 and "be used again" in used.text
    again = client.post(
        path,
        data={
            "password": "x" * 20,
            "password_again": "x" * 20,
            "csrf_token": form_token(client, "/console/login"),
        },
    )
    assert again.status_code == 410
    with app.app_context():
        events = audit.events_for(db.session, "staff_user", mia_id)
    # The old password refused, the new one accepted, after the reset by link.
    assert [e.action for e in events[:3]] == [
        "staff.login",
        "staff.login_failed",
        "staff.password_reset",
    ]
    reset = events[2]
    assert (reset.actor, reset.details) == (f"staff #{mia_id}", {"via": "link"})


def test_bad_links_get_a_page_that_says_why(app: Flask) -> None:
    mia_id = make_staff(app, "mia@example.com")
    client = app.test_client()
    with time_machine.travel(AT, tick=False) as clock:
        path = _link(app, mia_id)
        clock.move_to(AT + timedelta(hours=1, seconds=2))
        expired = client.get(path)
        assert expired.status_code == 410
        assert "This link has expired" in expired.text and "one hour" in expired.text
    with app.app_context():
        mia = must_get(StaffUser, mia_id)
        other_purpose = tokens().make("accept", f"{mia.id}.{recovery.account_state(mia)}")
    token = path.removeprefix("/console/reset/")
    for bad in (forge(token), token[:20], other_purpose, "x"):
        page = client.get(f"/console/reset/{bad}")
        assert page.status_code == 400, bad
        assert "This link is not valid" in page.text and 'id="error"' in page.text
