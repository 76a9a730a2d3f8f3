"""Service email: registered templates, sent whatever the marketing choices, never when bounced."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from invites.accounts.models import Contact
from invites.core.db import db, utcnow
from invites.core.suppression import suppress
from invites.delivery.models import OutboundMessage

from ..support.helpers import all_database_text, auth, link_to, new_key, run_jobs
from ..support.smtpd import SMTPSink


def _contact(client: FlaskClient, key: str, user_id: str = "u-1", **body: str) -> None:
    payload = {"email": "svc@example.com", "locale": "en", "name": "Sam", **body}
    assert client.put(
        f"/api/v1/contacts/{user_id}", json=payload, headers=auth(key)
    ).status_code in (200, 201)


def _send(client: FlaskClient, key: str, **body: object) -> TestResponse:
    payload = {"user_id": "u-1", "template": "account_welcome", "context": {"name": "Sam"}, **body}
    return client.post("/api/v1/messages", json=payload, headers=auth(key))


def test_service_mail_ignores_marketing_choices(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    client = smtp_app.test_client()
    key = new_key(smtp_app, ["contacts", "messages"])
    _contact(client, key)
    client.put(
        "/api/v1/contacts/u-1/preferences",
        headers=auth(key),
        json={"promotional": False, "partner_offers": False, "source": "app"},
    )
    with smtp_app.app_context():
        h = db.session.scalars(db.select(Contact.email_hash)).one()
        suppress(db.session, h, "unsubscribed_all", utcnow())
        db.session.commit()
    resp = _send(client, key)
    assert resp.status_code == 202
    message_id = resp.get_json()["id"]
    assert (
        client.get(f"/api/v1/messages/{message_id}", headers=auth(key)).get_json()["status"]
        == "queued"
    )
    run_jobs(smtp_app)
    [mail] = smtp_sink.wait_for(1)
    msg = mail.message
    assert msg["From"] == "SpotCam <no-reply@spotcam.example>"
    assert msg["Subject"] == "Welcome to SpotCam, Sam"
    assert msg["List-Unsubscribe"] is None and msg["List-Unsubscribe-Post"] is None
    # Every email has a footer link to the preference centre.
    prefs = link_to(mail, "/p/")
    assert f'href="https://mail.spotcam.test{prefs}"' in (mail.html or "")
    status = client.get(f"/api/v1/messages/{message_id}", headers=auth(key)).get_json()
    assert status["status"] == "sent" and status["sent_at"] and status["reason"] is None


def test_never_to_a_hard_bounced_address(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    client = smtp_app.test_client()
    key = new_key(smtp_app, ["contacts", "messages"])
    _contact(client, key)
    with smtp_app.app_context():
        h = db.session.scalars(db.select(Contact.email_hash)).one()
        suppress(db.session, h, "hard_bounce", utcnow())
        db.session.commit()
    message_id = _send(client, key).get_json()["id"]
    run_jobs(smtp_app)
    assert smtp_sink.messages == []
    status = client.get(f"/api/v1/messages/{message_id}", headers=auth(key)).get_json()
    assert status["status"] == "suppressed" and "bounce" in status["reason"]


def test_to_a_bare_address_in_russian(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    client = smtp_app.test_client()
    key = new_key(smtp_app, ["messages"])
    resp = client.post(
        "/api/v1/messages",
        headers=auth(key),
        json={
            "email": "Guest@Example.com",
            "template": "security_alert",
            "locale": "ru",
            "context": {"name": "Гость", "event": "вход с нового устройства", "when": "сегодня"},
        },
    )
    assert resp.status_code == 202
    run_jobs(smtp_app)
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["Guest@example.com"]
    assert mail.message["Subject"] == "Уведомление безопасности: вход с нового устройства"
    assert "Гость" in (mail.text or "")
    # A bare address is needed only until the message is final.
    assert "Guest@example.com" not in all_database_text(smtp_app)


def test_templates_and_context_are_validated(app: Flask) -> None:
    client = app.test_client()
    key = new_key(app, ["contacts", "messages"])
    _contact(client, key)
    unknown = _send(client, key, template="reset_everything")
    assert unknown.status_code == 422
    assert "account_welcome" in unknown.get_json()["errors"][0]["message"]
    missing = _send(client, key, template="security_alert", context={"name": "Sam"})
    fields = {e["field"] for e in missing.get_json()["errors"]}
    assert fields == {"context.event", "context.when"}
    extra = _send(client, key, context={"name": "Sam", "is_admin": "yes"})
    assert extra.get_json()["errors"][0]["field"] == "context.is_admin"
    nested = _send(client, key, context={"name": {"$gt": ""}})
    assert nested.status_code == 422
    both = _send(client, key, email="x@example.com")
    assert both.status_code == 422
    nobody = _send(client, key, user_id="nobody")
    assert nobody.get_json()["errors"][0]["field"] == "user_id"
    assert client.get("/api/v1/messages/nope", headers=auth(key)).status_code == 404
    with app.app_context():
        assert db.session.query(OutboundMessage).count() == 0


def test_idempotency_key(app: Flask) -> None:
    client = app.test_client()
    key = new_key(app, ["contacts", "messages"])
    _contact(client, key)
    h = auth(key, **{"Idempotency-Key": "welcome-u-1"})
    body = {"user_id": "u-1", "template": "account_welcome", "context": {"name": "Sam"}}
    first = client.post("/api/v1/messages", json=body, headers=h)
    second = client.post("/api/v1/messages", json=body, headers=h)
    assert first.status_code == second.status_code == 202
    assert first.get_json()["id"] == second.get_json()["id"]
    with app.app_context():
        assert db.session.query(OutboundMessage).count() == 1


def test_mail_to_an_address_without_an_account_says_so(
    smtp_app: Flask, smtp_sink: SMTPSink
) -> None:
    client = smtp_app.test_client()
    key = new_key(smtp_app, ["messages"])
    resp = client.post(
        "/api/v1/messages",
        headers=auth(key),
        json={
            "email": "no.account@example.com",
            "template": "security_alert",
            "context": {"name": "Guest", "event": "a data request", "when": "today"},
        },
    )
    assert resp.status_code == 202
    run_jobs(smtp_app)
    [mail] = smtp_sink.wait_for(1)
    text = mail.text or ""
    assert "because you have a SpotCam account" not in text
    assert "There is no SpotCam account for it" in text
    about = link_to(mail, "/about-this-email")
    page = client.get(about)
    assert page.status_code == 200 and "About this email" in page.get_data(as_text=True)
    assert "kept only until" in text or "only until" in page.get_data(as_text=True)
