"""User text in every header that carries it, checked in the raw bytes the SMTP server received.

Each payload is an RFC 2047 encoded-word that decodes to CR/LF: on CPython 3.11.7 the standard
library's header folder wrote such text back raw, forging a Content-Type (and a body that
escaped the link defanging), a Reply-To or a Bcc, and pushing List-Unsubscribe into the body.
"""

from __future__ import annotations

import base64
import re

import pytest
from flask import Flask

from invites.accounts import contacts
from invites.accounts import mail as messages
from invites.core import queue
from invites.core.db import db, utcnow

from ..support.helpers import auth, invite, new_key, run_jobs
from ..support.smtpd import ReceivedMessage, SMTPSink


def _b(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


PAYLOADS = [
    "=?utf-8?q?=0D=0AContent-Type:_text/html=0D=0A=0D=0A<a_href=//evil=2Eco>Win</a>?=",
    "=?utf-8?q?=0D=0AReply-To:_attacker=40evil=2Eexample?=",
    "=?utf-8?q?=0D=0ABcc:_victim=40example=2Ecom?=",
    "=?utf-8?q?=0D=0AX-Injected:_yes?=",
    _b("\r\nBcc: victim@example.com"),
    _b("\r\nContent-Type: text/html\r\n\r\n<a href=//x.co>Win"),
]


def _head(mail: ReceivedMessage) -> tuple[list[str], str]:
    head, _, body = mail.raw.partition(b"\r\n\r\n")
    lines = head.decode("ascii").split("\r\n")
    names = [line.split(":", 1)[0].lower() for line in lines if not line[:1].isspace()]
    return names, body.decode()


def _assert_intact(mail: ReceivedMessage, *, unsubscribe: bool) -> None:
    names, body = _head(mail)
    assert names.count("content-type") == 1
    for forged in ("bcc", "reply-to", "x-injected", "cc"):
        assert forged not in names
    assert ("list-unsubscribe" in names) is unsubscribe
    assert ("list-unsubscribe-post" in names) is unsubscribe
    # Nothing header-like leaked into the body, which holds exactly the two parts.
    assert not re.search(r"(?im)^(bcc|reply-to|x-injected|list-unsubscribe):", body)
    parts = [p.get_content_type() for p in mail.message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert "evil.co>Win" not in (mail.html or "")
    assert "<a href=//evil" not in (mail.html or "")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_an_inviter_name_cannot_forge_the_invitation(
    smtp_app: Flask, smtp_sink: SMTPSink, payload: str
) -> None:
    key = new_key(smtp_app, ["invitations"])
    client = smtp_app.test_client()
    assert invite(client, key, "target@example.com", inviter_name=payload).status_code == 202
    run_jobs(smtp_app)

    [mail] = smtp_sink.wait_for(1)
    _assert_intact(mail, unsubscribe=True)
    assert mail.rcpt_tos == ["target@example.com"]
    assert payload in mail.message["Subject"]  # shown literally, never decoded


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_service_context_value_cannot_forge_the_message(
    smtp_app: Flask, smtp_sink: SMTPSink, payload: str
) -> None:
    key = new_key(smtp_app, ["messages"])
    resp = smtp_app.test_client().post(
        "/api/v1/messages",
        json={
            "email": "target@example.com",
            "template": "security_alert",
            "context": {"name": payload, "event": payload, "when": payload},
        },
        headers=auth(key),
    )
    assert resp.status_code == 202
    run_jobs(smtp_app)

    [mail] = smtp_sink.wait_for(1)
    _assert_intact(mail, unsubscribe=False)
    assert payload in mail.message["Subject"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_contact_name_cannot_forge_a_marketing_subject(
    smtp_app: Flask, smtp_sink: SMTPSink, payload: str
) -> None:
    key = new_key(smtp_app, ["contacts"])
    put = smtp_app.test_client().put(
        "/api/v1/contacts/u-1",
        json={"email": "fan@example.com", "locale": "en", "name": payload},
        headers=auth(key),
    )
    assert put.status_code == 201
    with smtp_app.app_context():
        contact = contacts.find(db.session, "u-1")
        assert contact is not None
        msg = messages.queue_marketing(
            db.session,
            contact,
            "promotional",
            subject="Hi {{ name }}",
            body_html="<p>News for {{ name }}</p>",
            body_text="News for {{ name }}",
            now=utcnow(),
        )
        db.session.commit()
        queue.enqueue_deliveries([msg.id], queue.CAMPAIGN_QUEUE)
    run_jobs(smtp_app)

    [mail] = smtp_sink.wait_for(1)
    _assert_intact(mail, unsubscribe=True)
    assert mail.message["Subject"] == f"Hi {payload}"
