"""What a send leaves behind: only a dead address is suppressed, and no address outlives its
purpose in the database, in Redis or in a log line. Told through real jobs and a real SMTP server.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest
from flask import Flask

from invites.core import queue
from invites.core.config import Settings
from invites.core.db import db
from invites.core.models import Suppression
from invites.delivery.models import OutboundMessage
from invites.invitations.models import Invitation

from ..support.helpers import (
    all_database_text,
    auth,
    invite,
    make_app,
    new_key,
    redis_text,
    run_jobs,
    worker_process,
)
from ..support.smtpd import SMTPSink

ALERT = {"name": "Sam", "event": "new login", "when": "today"}


def _alert(app: Flask, to: str) -> str:
    key = new_key(app, ["messages"])
    resp = app.test_client().post(
        "/api/v1/messages",
        json={"email": to, "template": "security_alert", "context": ALERT},
        headers=auth(key),
    )
    assert resp.status_code == 202, resp.get_json()
    return str(resp.get_json()["id"])


def _suppressions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(db.select(Suppression.reason)))


@pytest.mark.parametrize(
    "reply, dead",
    [
        ("550 5.1.1 <who@example.org>: Recipient address rejected: User unknown", True),
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address", True),
        ("550 5.7.1 message refused: looks like spam", False),
        ("552 5.2.2 mailbox full", False),
        ("550 5.1.8 sender domain does not resolve", False),  # about our sender, not them
        ("550 rejected", False),  # no enhanced code, nothing says the mailbox is gone
    ],
)
def test_only_a_dead_address_is_suppressed(
    smtp_app: Flask, smtp_sink: SMTPSink, reply: str, dead: bool
) -> None:
    code, text = reply.split(" ", 1)
    smtp_sink.fail_next(int(code), text, on="RCPT")
    _alert(smtp_app, "who@example.org")
    run_jobs(smtp_app)

    assert smtp_sink.messages == []
    assert _suppressions(smtp_app) == (["hard_bounce"] if dead else [])
    # A later security alert still reaches an address that only refused one message.
    _alert(smtp_app, "who@example.org")
    run_jobs(smtp_app)
    assert len(smtp_sink.messages) == (0 if dead else 1)


def _assert_nowhere(app: Flask, address: str, *logs: str) -> None:
    local = address.split("@")[0].encode()
    assert address not in all_database_text(app)
    with app.app_context():
        stored = redis_text(queue.connection())
    assert address.encode() not in stored and local not in stored
    for text in logs:
        assert address not in text and local.decode() not in text


def test_a_refusal_quoting_the_address_leaves_it_nowhere(
    settings: Settings, app: Flask, smtp_sink: SMTPSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    address = "quoted.friend@example.org"
    smtp_app = make_app(settings, smtp_url=smtp_sink.url)
    smtp_sink.fail_next(550, f"5.1.1 <{address}>: Recipient address rejected", on="RCPT")
    smtp_sink.fail_next(550, f"5.1.1 <{address}>: Recipient address rejected", on="RCPT")
    key = new_key(smtp_app, ["invitations"])
    assert invite(smtp_app.test_client(), key, address).status_code == 202
    _alert(smtp_app, address)

    done = worker_process(smtp_app.config["SETTINGS"])  # a real worker, its own log

    assert done.returncode == 0, done.stderr
    with smtp_app.app_context():
        rows = db.session.scalars(db.select(OutboundMessage)).all()
        # The first refusal (5.1.1) suppresses the address, so the second message isn't tried.
        assert sorted(r.status for r in rows) == ["failed", "suppressed"]
        [failed] = [r for r in rows if r.status == "failed"]
        assert "Recipient address rejected" in (failed.last_error or "")
        inv = db.session.scalars(db.select(Invitation)).one()
        assert inv.status == "bounced" and inv.email is None
    _assert_nowhere(smtp_app, address, done.stdout, done.stderr, caplog.text)


def test_a_service_message_that_gives_up_keeps_no_address(
    settings: Settings, app: Flask, smtp_sink: SMTPSink
) -> None:
    address = "patient.one@example.org"
    smtp_app = make_app(settings, smtp_url=smtp_sink.url, max_send_attempts=2)
    smtp_sink.fail_next(451, f"4.2.0 <{address}> greylisted", times=2, on="RCPT")
    _alert(smtp_app, address)
    s = dataclasses.replace(smtp_app.config["SETTINGS"])

    for _ in range(2):
        done = worker_process(s)
        assert done.returncode == 0, done.stderr

    with smtp_app.app_context():
        [row] = db.session.scalars(db.select(OutboundMessage)).all()
        assert row.status == "failed" and "gave up after 2 attempts" in (row.last_error or "")
        assert row.to_email is None
    _assert_nowhere(smtp_app, address, done.stdout, done.stderr)


@pytest.mark.parametrize("route", ["invitation", "message", "contact"])
def test_a_non_ascii_local_part_is_refused_at_the_door(app: Flask, route: str) -> None:
    key = new_key(app, ["invitations", "messages", "contacts"])
    client = app.test_client()
    address = "prív@example.org"
    if route == "invitation":
        resp = invite(client, key, address)
    elif route == "message":
        resp = client.post(
            "/api/v1/messages",
            json={"email": address, "template": "security_alert", "context": ALERT},
            headers=auth(key),
        )
    else:
        resp = client.put(
            "/api/v1/contacts/u-1", json={"email": address, "locale": "en"}, headers=auth(key)
        )

    assert resp.status_code == 422
    assert resp.get_json()["errors"][0]["field"] == "email"
    assert "prív" not in resp.get_data(as_text=True)
    assert "prív" not in all_database_text(app)


@pytest.mark.parametrize(
    "typed, wire",
    [
        ("x@faß.de", "x@xn--fa-hia.de"),  # IDNA 2003 would say fass.de: someone else
        ("y@σσς.gr", "y@xn--3xaba.gr"),  # final sigma kept, not folded to σ
        ("z@аpple.com", "z@xn--pple-43d.com"),  # Cyrillic а in a Latin name
    ],
)
def test_an_international_domain_is_one_address_everywhere(
    smtp_app: Flask, smtp_sink: SMTPSink, typed: str, wire: str
) -> None:
    client = smtp_app.test_client()
    key = new_key(smtp_app, ["invitations"])
    assert invite(client, key, typed).status_code == 202
    run_jobs(smtp_app)

    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == [wire]
    assert mail.message["To"] == wire
    # The removal from that mailbox blocks the same hash that a new invitation checks.
    removal = [u for u in (mail.message["List-Unsubscribe"] or "").strip("<>").split(",")][0]
    path = removal.split("://", 1)[1].split("/", 1)[1]
    assert client.post("/" + path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    for form in (typed, wire):
        assert invite(client, key, form, inviter_id="someone-else").status_code == 202
    run_jobs(smtp_app)
    assert len(smtp_sink.messages) == 1
