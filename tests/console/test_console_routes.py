"""Every console route: a signed-in user first, then the role its view allows, and a CSRF
token on every form. The routes come from the URL map, so a page added later is covered."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from werkzeug.test import TestResponse

from invites.console.access import roles_for
from invites.core.db import db
from invites.staff import Role, StaffUser

from ..support.campaigns import make_campaign
from ..support.staff import form_token, make_staff, signed_in

WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.I)


def _console_routes(app: Flask, ident: int = 1) -> Iterator[tuple[str, str, str]]:
    """(endpoint, method, path) of every console route but its static files.

    Ids are `ident` (a campaign's, where one exists), a locale is "en", other names "x".
    """
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/console") or rule.endpoint == "console.static":
            continue
        path = re.sub(r"<int:[^>]+>", str(ident), rule.rule)
        path = path.replace("<locale>", "en")
        path = re.sub(r"<[^>]+>", "x", path)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, path


def _call(client: FlaskClient, method: str, path: str, page: str = "/console/") -> TestResponse:
    if method == "GET":
        return client.get(path)
    # A valid token, so that what answers is the sign-in or role check, not CSRF.
    return client.open(path, method=method, data={"csrf_token": form_token(client, page)})


def _staff_count(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(StaffUser))
        db.session.remove()
    return int(count or 0)


def test_every_console_route_but_sign_in_needs_a_staff_user(app: Flask) -> None:
    client = app.test_client()
    checked = 0
    for endpoint, method, path in _console_routes(app):
        if getattr(app.view_functions[endpoint], "console_public", False):
            continue
        resp = _call(client, method, path, page="/console/login")
        assert resp.status_code == 302, (method, path, resp.status_code)
        assert resp.headers["Location"].startswith("/console/login"), (method, path)
        checked += 1
    assert checked >= 10


def test_marketing_gets_403_on_every_admin_route(app: Flask) -> None:
    client = signed_in(app, "mia@example.com", Role.MARKETING)
    before = _staff_count(app)
    admin_only = [
        (endpoint, method, path)
        for endpoint, method, path in _console_routes(app)
        if roles_for(app.view_functions[endpoint]) == {Role.ADMIN}
    ]
    assert {e for e, _m, _p in admin_only} >= {
        "console.staff_users.index",
        "console.staff_users.create",
        "console.staff_users.change_role",
        "console.staff_users.disable",
        "console.staff_users.enable",
        "console.api_keys.index",
        "console.api_keys.create",
        "console.api_keys.revoke",
        "console.audit_log.index",
    }
    for _endpoint, method, path in admin_only:
        resp = _call(client, method, path)
        assert resp.status_code == 403, (method, path, resp.status_code)
        assert 'id="error"' in resp.text and "for admin staff; you are marketing" in resp.text
    assert _staff_count(app) == before
    # Routes open to every role stay open to marketing.
    assert client.get("/console/").status_code == 200


def test_an_admin_opens_every_console_page(app: Flask) -> None:
    client = signed_in(app, "boss@example.com", Role.ADMIN)
    campaign_id = make_campaign(app)
    for endpoint, method, path in _console_routes(app, campaign_id):
        if method == "GET" and "x" not in path.split("/"):
            # The live audience count answers a settings form: it needs its category.
            query = "?category=promotional" if endpoint.endswith(".audience_count") else ""
            resp = client.get(path + query)
            assert resp.status_code in (200, 302), (endpoint, resp.status_code)


def test_console_pages_write_nothing_on_get(app: Flask) -> None:
    client = signed_in(app, "boss@example.com", Role.ADMIN)
    campaign_id = make_campaign(app)
    seen: list[str] = []

    def before(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if WRITES.match(statement):
            seen.append(statement.split("\n")[0][:100])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        for _endpoint, method, path in _console_routes(app, campaign_id):
            if method == "GET":
                for verb in ("GET", "HEAD"):
                    client.open(path, method=verb)
                    assert not seen, (verb, path, seen)
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_a_form_without_its_token_is_refused_and_changes_nothing(app: Flask) -> None:
    client = signed_in(app, "boss@example.com", Role.ADMIN)
    form = {
        "email": "new@example.com",
        "role": "admin",
        "password": "a long enough password",
        "password_again": "a long enough password",
    }
    before = _staff_count(app)
    for extra in ({}, {"csrf_token": "forged"}):
        resp = client.post("/console/users", data={**form, **extra})
        assert resp.status_code == 400
        assert "Form not accepted" in resp.text and "reload the page" in resp.text
    other = app.test_client()
    stolen = form_token(other)  # a valid token, but of another session
    assert client.post("/console/users", data={**form, "csrf_token": stolen}).status_code == 400
    assert _staff_count(app) == before
    # Sign-out is a form too; without its token the session goes on.
    assert client.post("/console/logout").status_code == 400
    assert client.get("/console/").status_code == 200
    make_staff(app, "ann@example.com")
    refused = app.test_client().post(
        "/console/login", data={"email": "ann@example.com", "password": "x" * 12}
    )
    assert refused.status_code == 400 and "Form not accepted" in refused.text
