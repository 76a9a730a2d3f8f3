"""Admin pages: staff users and API keys, each change audited; times in the viewer's zone."""

from __future__ import annotations

import html
import re
from datetime import datetime

from flask import Flask
from flask.testing import FlaskClient

from invites.console import format_time
from invites.core import audit
from invites.core.config import Settings
from invites.core.db import db
from invites.core.models import ApiKey
from invites.staff import Role, StaffUser, users

from ..support.helpers import auth, make_app
from ..support.staff import PASSWORD, label_of, make_staff, post_form, sign_in, signed_in

NEW = {"password": PASSWORD, "password_again": PASSWORD}


def _user(app: Flask, email: str) -> StaffUser:
    with app.app_context():
        user = users.find_by_email(db.session, email)
        assert user is not None
        db.session.expunge(user)
        return user


def _events(app: Flask, target_type: str, target_id: str | int) -> list[tuple[str, str | None]]:
    with app.app_context():
        found = [(e.action, e.actor) for e in audit.events_for(db.session, target_type, target_id)]
        db.session.remove()
    return found


def _flash(resp_text: str) -> list[str]:
    found = re.findall(r'<p class="flash [a-z]+" role="status">([^<]+)</p>', resp_text)
    return [html.unescape(message) for message in found]


def test_create_a_staff_user_with_a_role(app: Flask) -> None:
    client = signed_in(app, "boss@example.com", Role.ADMIN)
    done = post_form(
        client,
        "/console/users",
        {"email": "Mia@Example.com", "role": "marketing", **NEW},
        "/console/users",
    )
    assert done.status_code == 303
    page = client.get("/console/users")
    assert _flash(page.text) == ["Created mia@example.com (marketing)."]
    assert 'data-email="mia@example.com"' in page.text
    mia = _user(app, "mia@example.com")
    assert mia.role == Role.MARKETING and PASSWORD not in mia.password_hash
    boss = label_of(app, "boss@example.com")
    assert _events(app, "staff_user", mia.id) == [("staff.created", boss)]
    assert sign_in(app.test_client(), "mia@example.com").status_code == 302


def test_bad_new_users_are_refused_with_the_reason(app: Flask) -> None:
    client = signed_in(app, "boss@example.com", Role.ADMIN)
    cases = [
        (
            {
                "email": "a@example.com",
                "role": "marketing",
                "password": "short",
                "password_again": "short",
            },
            "at least 12 characters",
        ),
        (
            {
                "email": "a@example.com",
                "role": "marketing",
                "password": PASSWORD,
                "password_again": PASSWORD + "x",
            },
            "The two passwords differ.",
        ),
        ({"email": "a@example.com", "role": "root", **NEW}, "Choose a role."),
        ({"email": "not an address", "role": "admin", **NEW}, "not a valid email address"),
        ({"email": "BOSS@example.com", "role": "admin", **NEW}, "exists already"),
        (
            {"email": "a@example.com", "role": "admin", "time_zone": "Mars/Base", **NEW},
            "see the time zone below",  # the reason is at the field: tests/core/test_zones.py
        ),
    ]
    for form, reason in cases:
        resp = post_form(client, "/console/users", form, "/console/users")
        assert resp.status_code == 400, form
        [message] = _flash(resp.text)
        assert reason in message, (reason, message)
        # The form comes back filled in, but for the passwords.
        assert f'value="{form["email"]}"' in resp.text and PASSWORD not in resp.text
    with app.app_context():
        assert [u.email for u in users.all_users(db.session)] == ["boss@example.com"]


def test_roles_change_and_the_last_admin_stays(app: Flask) -> None:
    client = signed_in(app, "boss@example.com", Role.ADMIN)
    boss = _user(app, "boss@example.com")
    mia_id = make_staff(app, "mia@example.com")
    post_form(client, f"/console/users/{mia_id}/role", {"role": "admin"}, "/console/users")
    assert _flash(client.get("/console/users").text) == ["mia@example.com is now admin."]
    post_form(client, f"/console/users/{mia_id}/role", {"role": "marketing"}, "/console/users")
    refused = post_form(
        client, f"/console/users/{boss.id}/role", {"role": "marketing"}, "/console/users"
    )
    assert refused.status_code == 303
    [message] = _flash(client.get("/console/users").text)
    assert "last enabled admin" in message
    assert _user(app, "boss@example.com").role == Role.ADMIN
    assert [a for a, _ in _events(app, "staff_user", mia_id)] == [
        "staff.role_changed",
        "staff.role_changed",
        "staff.created",
    ]


def test_disable_and_enable(app: Flask) -> None:
    admin = signed_in(app, "boss@example.com", Role.ADMIN)
    boss = _user(app, "boss@example.com")
    mia_id = make_staff(app, "mia@example.com")
    mia = app.test_client()
    sign_in(mia, "mia@example.com")
    page = admin.get("/console/users").text
    assert f"/console/users/{boss.id}/disable" not in page  # no button to disable oneself
    assert f"/console/users/{mia_id}/disable" in page
    post_form(admin, f"/console/users/{boss.id}/disable", {}, "/console/users")
    [refused] = _flash(admin.get("/console/users").text)
    assert "can't disable your own account" in refused
    post_form(admin, f"/console/users/{mia_id}/disable", {}, "/console/users")
    assert _flash(admin.get("/console/users").text) == ["Disabled mia@example.com."]
    assert mia.get("/console/").status_code == 302  # out at her next request
    post_form(admin, f"/console/users/{mia_id}/enable", {}, "/console/users")
    assert _flash(admin.get("/console/users").text) == ["Enabled mia@example.com."]
    assert sign_in(mia, "mia@example.com").status_code == 302
    assert [a for a, _ in _events(app, "staff_user", mia_id)][:3] == [
        "staff.login",
        "staff.enabled",
        "staff.disabled",
    ]
    assert post_form(admin, "/console/users/999/disable", {}, "/console/users").status_code == 404


def _key_secret(page: str) -> str:
    found = re.search(r'<code class="secret" id="secret">([^<]+)</code>', page)
    assert found
    return found.group(1)


def test_api_keys_create_list_revoke(app: Flask, settings: Settings) -> None:
    uncached = make_app(settings, api_key_cache_seconds=0)
    client = signed_in(uncached, "boss@example.com", Role.ADMIN)
    created = post_form(
        client,
        "/console/api-keys",
        {"name": "app backend", "scope": ["stats", "invitations"]},
        "/console/api-keys",
    )
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    secret = _key_secret(created.text)
    assert "not shown again" in created.text
    api = uncached.test_client()
    assert api.get("/api/v1/stats/invitations", headers=auth(secret)).status_code == 200
    listing = client.get("/console/api-keys").text
    assert secret not in listing
    with uncached.app_context():
        [row] = db.session.scalars(db.select(ApiKey)).all()
        prefix = row.prefix
        assert row.scopes == "invitations,stats" and secret not in row.key_hash
    assert f'data-prefix="{prefix}"' in listing and "invitations, stats" in listing
    assert 'badge ok">active' in listing
    done = post_form(client, f"/console/api-keys/{prefix}/revoke", {}, "/console/api-keys")
    assert done.status_code == 303
    listing = client.get("/console/api-keys").text
    assert "revoked" in listing and f"Revoked {prefix} (app backend)" in listing
    assert api.get("/api/v1/stats/invitations", headers=auth(secret)).status_code == 401
    assert _events(uncached, "api_key", prefix) == [
        ("api_key.revoked", label_of(uncached, "boss@example.com")),
        ("api_key.created", label_of(uncached, "boss@example.com")),
    ]
    missing = post_form(client, "/console/api-keys/nope/revoke", {}, "/console/api-keys")
    assert missing.status_code == 404


def test_bad_keys_are_refused(app: Flask) -> None:
    client = signed_in(app, "boss@example.com", Role.ADMIN)
    for form, reason in (
        ({"name": "x"}, "at least one scope"),
        ({"name": "x", "scope": ["everything"]}, "unknown scope"),
        ({"name": " ", "scope": ["stats"]}, "needs a name"),
    ):
        resp = post_form(client, "/console/api-keys", form, "/console/api-keys")
        assert resp.status_code == 400 and reason in " ".join(_flash(resp.text)), form
    with app.app_context():
        assert db.session.scalars(db.select(ApiKey)).all() == []


def test_times_are_shown_in_the_viewers_zone(app: Flask) -> None:
    assert format_time(datetime(2026, 12, 3, 9, 30)) == "2026-12-03 09:30 UTC"
    assert format_time(datetime(2026, 12, 3, 9, 30), "Europe/Moscow") == "2026-12-03 12:30 MSK"
    assert format_time(datetime(2026, 7, 1, 9, 30), "America/New_York") == "2026-07-01 05:30 EDT"
    assert format_time(None) == "—"
    make_staff(app, "msk@example.com", Role.ADMIN, time_zone="Europe/Moscow")
    client = app.test_client()
    sign_in(client, "msk@example.com")
    user = _user(app, "msk@example.com")
    page = client.get("/console/users").text
    assert format_time(user.created_at, "Europe/Moscow") in page
    assert "Times are shown in\n  Europe/Moscow" in client.get("/console/").text


def test_the_audit_log_page(app: Flask) -> None:
    client: FlaskClient = signed_in(app, "boss@example.com", Role.ADMIN)
    mia_id = make_staff(app, "mia@example.com")
    page = client.get("/console/audit").text
    for action in ("staff.created", "staff.login"):
        assert f"<code>{action}</code>" in page
    only_mia = client.get(f"/console/audit?type=staff_user&id={mia_id}").text
    assert only_mia.count("<code>staff.") == 1 and 'value="staff_user" selected' in only_mia
