"""Contacts, preferences and the consent log through the API."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ..support.helpers import all_database_text, auth, new_key

PROBLEM = "application/problem+json"


def _put(client: FlaskClient, key: str, user_id: str = "u-1", **body: object) -> TestResponse:
    payload = {"email": "Maria@Example.com", "locale": "ru", "name": "Мария", **body}
    return client.put(f"/api/v1/contacts/{user_id}", json=payload, headers=auth(key))


def test_upsert_get_and_address_change_keeps_history(app: Flask) -> None:
    client = app.test_client()
    key = new_key(app, ["contacts"])
    created = _put(client, key)
    assert created.status_code == 201
    body = created.get_json()
    assert body["email"] == "Maria@example.com" and body["locale"] == "ru"
    assert body["preferences"] == {"service": True, "promotional": True, "partner_offers": False}
    granted = client.put(
        "/api/v1/contacts/u-1/preferences",
        headers=auth(key),
        json={
            "partner_offers": True,
            "source": "app",
            "policy_version": "2026-01",
            "wording_version": "signup-v3",
        },
    )
    assert granted.status_code == 200
    assert granted.get_json()["preferences"]["partner_offers"] is True
    moved = _put(client, key, email="maria.new@example.com")
    assert moved.status_code == 200
    assert moved.get_json()["email"] == "maria.new@example.com"
    assert moved.get_json()["preferences"]["partner_offers"] is True
    log = client.get("/api/v1/contacts/u-1/consents", headers=auth(key)).get_json()
    assert [
        (e["category"], e["granted"], e["source"], e["policy_version"], e["wording_version"])
        for e in log["events"]
    ] == [("partner_offers", True, "app", "2026-01", "signup-v3")]
    got = client.get("/api/v1/contacts/u-1", headers=auth(key)).get_json()
    assert got["email"] == "maria.new@example.com"


def test_withdraw_is_as_easy_as_grant_and_logged(app: Flask) -> None:
    client = app.test_client()
    key = new_key(app, ["contacts"])
    _put(client, key)
    for granted in (False, True, False):
        resp = client.put(
            "/api/v1/contacts/u-1/preferences",
            headers=auth(key),
            json={"promotional": granted, "source": "support"},
        )
        assert resp.get_json()["preferences"]["promotional"] is granted
    # Repeating the current state logs nothing new.
    client.put(
        "/api/v1/contacts/u-1/preferences",
        headers=auth(key),
        json={"promotional": False, "source": "api"},
    )
    events = client.get("/api/v1/contacts/u-1/consents", headers=auth(key)).get_json()["events"]
    assert [(e["granted"], e["source"]) for e in events] == [
        (False, "support"),
        (True, "support"),
        (False, "support"),
    ]
    assert all(e["policy_version"] == "2026-01" for e in events)


def test_bad_input(app: Flask) -> None:
    client = app.test_client()
    key = new_key(app, ["contacts"])
    _put(client, key)
    h = auth(key)
    cases = [
        client.put(
            "/api/v1/contacts/u-1/preferences", headers=h, json={"service": False, "source": "app"}
        ),
        client.put(
            "/api/v1/contacts/u-1/preferences",
            headers=h,
            json={"newsletters": True, "source": "app"},
        ),
        client.put(
            "/api/v1/contacts/u-1/preferences",
            headers=h,
            json={"promotional": "yes", "source": "app"},
        ),
        client.put(
            "/api/v1/contacts/u-1/preferences",
            headers=h,
            json={"promotional": True, "source": "complaint"},
        ),
        client.put("/api/v1/contacts/u-1/preferences", headers=h, json={"source": "app"}),
        _put(client, key, email="nope"),
        _put(client, key, locale="fr"),
        _put(client, key, user_id="bad%20id"),
    ]
    for resp in cases:
        assert resp.status_code == 422, resp.get_data(as_text=True)
        assert resp.mimetype == PROBLEM and resp.get_json()["errors"]
    assert (
        client.put(
            "/api/v1/contacts/u-1", data="{", headers=h, content_type="application/json"
        ).status_code
        == 400
    )
    assert client.get("/api/v1/contacts/nobody", headers=h).status_code == 404
    assert (
        client.put(
            "/api/v1/contacts/u-1",
            json={"email": "a@example.com"},
            headers=auth(new_key(app, ["invitations"])),
        ).status_code
        == 403
    )
    # Nothing above changed what was stored.
    got = client.get("/api/v1/contacts/u-1", headers=h).get_json()
    assert got["email"] == "Maria@example.com" and got["preferences"]["promotional"] is True


def test_hostile_name_is_plain_text(app: Flask) -> None:
    client = app.test_client()
    key = new_key(app, ["contacts"])
    resp = _put(client, key, name="Eve\u202e <b>x</b>\x1b[31m")
    assert resp.get_json()["name"] == "Eve <b>x</b>[31m"  # stored as text, format chars gone


def test_delete_leaves_no_trace(app: Flask) -> None:
    from invites.accounts import mail as messages
    from invites.accounts.models import Contact
    from invites.core.db import db, utcnow

    client = app.test_client()
    key = new_key(app, ["contacts"])
    _put(client, key, email="gone.person@example.com", name="Gone Person")
    client.put(
        "/api/v1/contacts/u-1/preferences",
        headers=auth(key),
        json={"partner_offers": True, "source": "app"},
    )
    with app.app_context():
        contact = db.session.scalars(db.select(Contact)).one()
        messages.queue_marketing(
            db.session,
            contact,
            "promotional",
            subject="Hi Gone Person",
            body_html="<p>x</p>",
            body_text="x",
            now=utcnow(),
        )
        db.session.commit()
    assert "gone.person@example.com" in all_database_text(app)
    assert client.delete("/api/v1/contacts/u-1", headers=auth(key)).status_code == 204
    stored = all_database_text(app)
    assert "gone.person" not in stored and "Gone Person" not in stored
    assert client.get("/api/v1/contacts/u-1", headers=auth(key)).status_code == 404
    assert client.delete("/api/v1/contacts/u-1", headers=auth(key)).status_code == 204


def test_oversized_body(app: Flask) -> None:
    client = app.test_client()
    key = new_key(app, ["contacts"])
    resp = client.put(
        "/api/v1/contacts/u-1",
        headers=auth(key),
        content_type="application/json",
        data='{"email": "a@example.com", "name": "' + "x" * 20000 + '"}',
    )
    assert resp.status_code == 413 and resp.mimetype == PROBLEM
    assert "16384 bytes" in resp.get_json()["detail"]
    assert client.get("/api/v1/contacts/u-1", headers=auth(key)).status_code == 404


def test_a_name_with_a_line_break_is_refused_naming_the_field(app: Flask) -> None:
    key = new_key(app, ["contacts"])
    for name in ("Ann\r\nBcc: x", "Ann\nSmith", "Ann\u2028Smith"):
        resp = app.test_client().put(
            "/api/v1/contacts/u-9",
            json={"email": "a@example.com", "name": name},
            headers=auth(key),
        )
        assert resp.status_code == 422
        assert resp.get_json()["errors"] == [
            {"field": "name", "message": "must be one line (no line breaks)"}
        ]
    assert "a@example.com" not in all_database_text(app)
