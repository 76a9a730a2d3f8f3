"""Bounce and complaint events: JSON and raw DSNs suppress, count, withdraw and close."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from invites.accounts import contacts, eligibility
from invites.accounts.categories import MARKETING
from invites.accounts.models import ConsentEvent
from invites.core import suppression
from invites.core.addresses import address_hash
from invites.core.config import Settings
from invites.core.db import db, utcnow
from invites.delivery.models import OutboundMessage
from invites.feedback import events as bounce_events
from invites.feedback.models import SoftBounceCount
from invites.invitations.models import Invitation

from ..support import hostile_bounces
from ..support.helpers import SAMPLES, all_database_text, auth, invite, make_app, new_key

PROBLEM = "application/problem+json"
EVENT_SAMPLES = SAMPLES / "events"
BOUNCE_SAMPLES = SAMPLES / "bounces"
URL = "/api/v1/events"


@pytest.fixture()
def key(app: Flask) -> str:
    """A key for the bounce processor, which may also create invitations in these tests."""
    return new_key(app, ["events", "invitations"])


def _problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body: dict[str, Any] = resp.get_json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    return body


def _post(client: FlaskClient, key: str, payload: Any) -> dict[str, int]:
    resp = client.post(URL, json=payload, headers=auth(key))
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body: dict[str, int] = resp.get_json()
    return body


def _event(email: str, type_: str, **extra: str) -> dict[str, str]:
    return {"email": email, "type": type_, **extra}


def _reasons(app: Flask, email: str) -> list[str]:
    settings: Settings = app.config["SETTINGS"]
    with app.app_context():
        return suppression.reasons(db.session, address_hash(email, settings.address_hash_key))


def _outbound(app: Flask) -> int:
    with app.app_context():
        return db.session.query(OutboundMessage).count()


def _soft_count(app: Flask, email: str) -> int | None:
    settings: Settings = app.config["SETTINGS"]
    with app.app_context():
        row = db.session.get(SoftBounceCount, address_hash(email, settings.address_hash_key))
        return None if row is None else row.count


def test_key_required_and_scoped(client: FlaskClient, app: Flask) -> None:
    body = _event("a@example.com", "hard_bounce")
    _problem(client.post(URL, json=body), 401)
    _problem(client.post(URL, json=body, headers=auth("sk_nope_nope")), 401)
    no_scope = new_key(app, ["invitations", "stats"])
    detail = _problem(client.post(URL, json=body, headers=auth(no_scope)), 403)["detail"]
    assert "lacks the 'events' scope" in detail
    assert _reasons(app, "a@example.com") == []


def test_hard_bounce_suppresses_and_closes_invitations(
    client: FlaskClient, app: Flask, key: str
) -> None:
    assert invite(client, key, "open.invite@example.com").status_code == 202
    assert _outbound(app) == 1

    result = _post(client, key, _event("Open.Invite@EXAMPLE.com", "hard_bounce"))
    assert result == {"processed": 1, "suppressed": 1}
    assert _reasons(app, "open.invite@example.com") == ["hard_bounce"]
    with app.app_context():
        inv = db.session.scalars(select(Invitation)).one()
        assert (inv.status, inv.email) == ("bounced", None)
        assert db.session.scalars(select(OutboundMessage.status)).one() == "cancelled"
    # Reported again: nothing new to suppress.
    assert _post(client, key, _event("open.invite@example.com", "hard_bounce"))["suppressed"] == 0

    # A later invitation gets the usual answer, but no mail is queued.
    _post(client, key, _event("dead@example.com", "hard_bounce", detail="550 5.1.1 no such user"))
    assert invite(client, key, "dead@example.com", inviter_id="user-9").status_code == 202
    assert _outbound(app) == 1
    assert invite(client, key, "alive@example.com", inviter_id="user-9").status_code == 202
    assert _outbound(app) == 2


def test_complaint_withdraws_marketing_and_suppresses(
    client: FlaskClient, app: Flask, key: str
) -> None:
    settings: Settings = app.config["SETTINGS"]
    with app.app_context():
        contact, _ = contacts.upsert(
            db.session, "user-7", "kim@example.com", "en", "Kim", settings, utcnow()
        )
        contacts.apply(
            db.session,
            contact,
            [contacts.Change(name, True, "api") for name in MARKETING],
            settings,
            utcnow(),
        )
        db.session.commit()
    assert invite(client, key, "friend.of.kim@example.com").status_code == 202

    result = _post(
        client,
        key,
        {
            "events": [
                _event("KIM@example.com", "complaint", message_id="<m1@spotcam.test>"),
                _event("friend.of.kim@example.com", "complaint", detail="abuse report"),
            ]
        },
    )
    assert result == {"processed": 2, "suppressed": 2}
    assert _reasons(app, "kim@example.com") == ["complaint"]
    with app.app_context():
        kim = contacts.find(db.session, "user-7")
        assert kim is not None
        withdrawn = [e for e in contacts.consent_log(db.session, kim) if not e.granted]
        assert sorted(e.category for e in withdrawn) == sorted(MARKETING)
        assert {e.source for e in withdrawn} == {"complaint"}
        state = contacts.current(db.session, kim, settings)
        assert not any(state[name] for name in MARKETING)
        # A complaint stops even service mail.
        assert eligibility.blocked(db.session, kim, "service", settings) is not None
        assert db.session.scalars(select(Invitation.status)).one() == "bounced"
    # A repeated complaint logs no further consent events.
    _post(client, key, _event("kim@example.com", "complaint"))
    with app.app_context():
        assert db.session.query(ConsentEvent).filter_by(source="complaint").count() == len(
            MARKETING
        )


def test_soft_bounces_reaching_the_limit_count_as_hard(
    client: FlaskClient, app: Flask, key: str
) -> None:
    limit = app.config["SETTINGS"].soft_bounce_limit
    assert limit == 3
    assert invite(client, key, "flaky@example.com").status_code == 202
    for seen in range(1, limit):
        assert _post(client, key, _event("flaky@example.com", "soft_bounce")) == {
            "processed": 1,
            "suppressed": 0,
        }
        assert _soft_count(app, "flaky@example.com") == seen
    assert _reasons(app, "flaky@example.com") == []
    with app.app_context():
        assert db.session.scalars(select(Invitation.status)).one() == "pending"

    assert _post(client, key, _event("flaky@example.com", "soft_bounce"))["suppressed"] == 1
    assert _reasons(app, "flaky@example.com") == ["hard_bounce"]
    with app.app_context():
        assert db.session.scalars(select(Invitation.status)).one() == "bounced"
    # Beyond the limit it stays suppressed and is not counted as new.
    assert _post(client, key, _event("flaky@example.com", "soft_bounce"))["suppressed"] == 0

    # A batch holding the whole limit for one address suppresses it once.
    batch = {"events": [_event("burst@example.com", "soft_bounce")] * limit}
    assert _post(client, key, batch) == {"processed": limit, "suppressed": 1}


def test_soft_bounce_window_resets(app: Flask) -> None:
    settings: Settings = app.config["SETTINGS"]
    h = address_hash("slow@example.com", settings.address_hash_key)
    soft = bounce_events.Event(h, "soft_bounce", "452 4.2.2 mailbox full")
    start = utcnow()
    with app.app_context():
        session = db.session
        assert bounce_events.record_all(session, [soft, soft], settings, start) == 0
        # The window has passed: the count starts again rather than reaching the limit.
        later = start + timedelta(days=settings.soft_bounce_window_days, seconds=1)
        assert bounce_events.record_all(session, [soft], settings, later) == 0
        row = session.get(SoftBounceCount, h)
        assert row is not None
        assert (row.count, row.window_start) == (1, later)
        # Within the new window it still counts up to the limit.
        assert bounce_events.record_all(session, [soft], settings, later + timedelta(days=1)) == 0
        assert bounce_events.record_all(session, [soft], settings, later + timedelta(days=2)) == 1
        session.commit()
    assert _reasons(app, "slow@example.com") == ["hard_bounce"]


def test_limit_and_window_come_from_settings(settings: Settings, app: Flask, key: str) -> None:
    client = make_app(settings, soft_bounce_limit=1).test_client()
    assert _post(client, key, _event("once@example.com", "soft_bounce"))["suppressed"] == 1


def test_raw_dsn_as_message_rfc822(client: FlaskClient, app: Flask, key: str) -> None:
    raw = (EVENT_SAMPLES / "two-recipients.eml").read_bytes()
    resp = client.post(URL, data=raw, content_type="message/rfc822", headers=auth(key))
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.get_json() == {
        "processed": 2,
        "suppressed": 1,
        "recipients": [
            {
                "email": "gone.user@example.net",
                "status": "5.1.1",
                "reason": "user_unknown",
                "hard": True,
                "suppressed": True,
            },
            {
                "email": "full.box@example.org",
                "status": "4.2.2",
                "reason": "mailbox_full",
                "hard": False,
                "suppressed": False,
            },
        ],
        "problems": [],
    }
    assert _reasons(app, "gone.user@example.net") == ["hard_bounce"]  # 5.1.1
    assert _reasons(app, "full.box@example.org") == []  # 4.2.2 is a soft bounce
    assert _soft_count(app, "full.box@example.org") == 1


def test_raw_dsn_as_multipart_report(client: FlaskClient, app: Flask, key: str) -> None:
    raw = (EVENT_SAMPLES / "two-recipients.eml").read_text()
    head, _, body = raw.partition("\n\n")
    # The report's MIME header goes in the HTTP Content-Type, folded lines joined.
    unfolded = head.replace("\n\t", " ")
    content_type = next(
        line.split(":", 1)[1].strip()
        for line in unfolded.splitlines()
        if line.lower().startswith("content-type:")
    )
    assert content_type.startswith("multipart/report;")
    resp = client.post(URL, data=body, content_type=content_type, headers=auth(key))
    assert resp.status_code == 202, resp.get_data(as_text=True)
    answer = resp.get_json()
    assert (answer["processed"], answer["suppressed"]) == (2, 1)
    assert [(r["email"], r["hard"]) for r in answer["recipients"]] == [
        ("gone.user@example.net", True),
        ("full.box@example.org", False),
    ]
    assert _reasons(app, "gone.user@example.net") == ["hard_bounce"]


def test_raw_message_that_is_not_a_bounce(client: FlaskClient, app: Flask, key: str) -> None:
    raw = (EVENT_SAMPLES / "not-a-bounce.eml").read_bytes()
    resp = client.post(URL, data=raw, content_type="message/rfc822", headers=auth(key))
    body = _problem(resp, 422)
    assert body["detail"] == "No failed recipients found in the message."
    assert body["errors"] == [
        {
            "field": "body",
            "message": "not a bounce: no delivery-status part, and no bounce sender or subject",
        }
    ]
    resp = client.post(
        URL, data=b"\x00\xff garbage", content_type="message/rfc822", headers=auth(key)
    )
    _problem(resp, 422)
    assert _reasons(app, "friend@example.com") == []


def test_unreadable_report_says_why(client: FlaskClient, app: Flask, key: str) -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=z\n\n"
        b"--z\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
        b"Zm9vY\n--z--\n"
    )
    resp = client.post(URL, data=raw, content_type="message/rfc822", headers=auth(key))
    assert [e["message"] for e in _problem(resp, 422)["errors"]] == [
        "a base64 delivery-status part that does not decode: skipped",
        "no failed recipient found in the report",
    ]


@pytest.mark.parametrize(
    ("sample", "reason", "hard"),
    [
        ("filtered-5.2.1.eml", "filtered", False),
        ("host-not-found-try-again.eml", "network_error", False),
        ("access-denied-5.4.1.eml", "user_unknown", True),
        ("status-5.0.0-user-unknown.eml", "user_unknown", True),
        ("no-recipient-fields.eml", "undefined", False),
    ],
)
def test_only_a_dead_address_in_a_report_is_suppressed(
    client: FlaskClient, app: Flask, key: str, sample: str, reason: str, hard: bool
) -> None:
    raw = (BOUNCE_SAMPLES / sample).read_bytes()
    resp = client.post(URL, data=raw, content_type="message/rfc822", headers=auth(key))
    assert resp.status_code == 202, resp.get_data(as_text=True)
    [answer] = resp.get_json()["recipients"]
    assert (answer["reason"], answer["hard"], answer["suppressed"]) == (reason, hard, hard)
    assert _reasons(app, answer["email"]) == (["hard_bounce"] if hard else [])
    assert _soft_count(app, answer["email"]) == (None if hard else 1)


def test_recipient_the_service_cannot_address_is_reported_not_applied(
    client: FlaskClient, app: Flask, key: str
) -> None:
    raw = (BOUNCE_SAMPLES / "quoted-local-part.eml").read_bytes()
    resp = client.post(URL, data=raw, content_type="message/rfc822", headers=auth(key))
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.get_json() == {
        "processed": 0,
        "suppressed": 0,
        "recipients": [
            {
                "email": '"a....b"@example.org',
                "status": "5.1.1",
                "reason": "user_unknown",
                "hard": True,
                "suppressed": False,
            }
        ],
        "problems": ["a recipient address the service does not accept: not applied"],
    }


def test_malformed_and_invalid_bodies(client: FlaskClient, app: Flask, key: str) -> None:
    h = auth(key)
    _problem(client.post(URL, data="{not json", headers=h, content_type="application/json"), 400)
    _problem(client.post(URL, data="email=x", headers=h, content_type="text/plain"), 415)
    _problem(
        client.post(
            URL, data="email=x", headers=h, content_type="application/x-www-form-urlencoded"
        ),
        415,
    )
    # A bare list is refused: a batch is {"events": [...]}.
    _problem(client.post(URL, json=[_event("a@example.com", "hard_bounce")], headers=h), 422)

    def errors(payload: Any) -> dict[str, str]:
        body = _problem(client.post(URL, json=payload, headers=h), 422)
        text = str(body)
        assert "secret.person" not in text  # the input is never echoed back
        return {e["field"]: e["message"] for e in body["errors"]}

    assert set(errors(_event("secret.person@example.com", "bounced"))) == {"type"}
    assert errors({**_event("a@example.com", "complaint"), "colour": "red"}) == {
        "colour": "unknown field"
    }
    assert set(errors(_event("secret.person@", "hard_bounce"))) == {"email"}
    assert set(errors(_event("a@example.com", "hard_bounce", detail="x" * 1001))) == {"detail"}
    assert set(errors(_event("a@example.com", "hard_bounce", message_id="m" * 256))) == {
        "message_id"
    }
    assert set(errors({"type": "complaint"})) == {"email"}
    batch = [_event("a@example.com", "hard_bounce"), _event("secret.person@example.com", "x")]
    assert set(errors({"events": batch})) == {"events.1.type"}
    assert set(errors({"events": []})) == {"events"}
    too_many = [_event(f"n{i}@example.com", "hard_bounce") for i in range(501)]
    assert set(errors({"events": too_many})) == {"events"}
    # One bad event refuses the whole batch: nothing of it was applied.
    assert _reasons(app, "a@example.com") == []


def test_full_batch_fits_and_larger_bodies_are_refused(
    client: FlaskClient, app: Flask, key: str
) -> None:
    batch = {"events": [_event(f"user{i:03}@example.com", "hard_bounce") for i in range(500)]}
    assert _post(client, key, batch) == {"processed": 500, "suppressed": 500}
    huge = b"x" * (1024 * 1024 + 1)
    resp = client.post(URL, data=huge, content_type="message/rfc822", headers=auth(key))
    assert "larger than" in _problem(resp, 413)["detail"]


@pytest.mark.parametrize("name", sorted(hostile_bounces.SHAPES))
def test_hostile_report_is_refused_quickly(
    client: FlaskClient, app: Flask, key: str, name: str
) -> None:
    raw = hostile_bounces.SHAPES[name]
    with hostile_bounces.deadline(1.0):
        resp = client.post(URL, data=raw, content_type="message/rfc822", headers=auth(key))
    _problem(resp, 422)


def test_address_and_detail_are_never_stored_or_logged(
    client: FlaskClient,
    app: Flask,
    key: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Alembic's fileConfig (run by the migration fixture) disables loggers that already exist.
    monkeypatch.setattr(bounce_events.log, "disabled", False)
    caplog.set_level(logging.DEBUG)
    addresses = ["hard.one@example.com", "soft.one@example.com", "angry.one@example.com"]
    assert invite(client, key, addresses[0]).status_code == 202
    for address in addresses[:2]:
        _post(client, key, _event(address, "soft_bounce", detail=f"452 4.2.2 {address} full"))
    _post(
        client,
        key,
        {
            "events": [
                _event(addresses[0], "hard_bounce", detail=f"550 5.1.1 <{addresses[0]}> unknown"),
                _event(addresses[2], "complaint", message_id=f"<{addresses[2]}>"),
            ]
        },
    )
    raw = (EVENT_SAMPLES / "two-recipients.eml").read_bytes()
    client.post(URL, data=raw, content_type="message/rfc822", headers=auth(key))
    stored = all_database_text(app).lower()
    logged = caplog.text.lower()
    for address in [*addresses, "gone.user@example.net", "full.box@example.org"]:
        assert address not in stored
        assert address not in logged
        assert address.split("@")[0] not in stored
    assert "unknown" not in stored and "full" not in stored
    assert "5.1.1" in logged  # status codes are fine to log


def test_concurrent_soft_bounces_are_all_counted(settings: Settings, app: Flask, key: str) -> None:
    threads_n = 6
    app2 = make_app(settings, soft_bounce_limit=threads_n)
    results: list[dict[str, int]] = []

    def post() -> None:
        resp = app2.test_client().post(
            URL, json=_event("busy@example.com", "soft_bounce"), headers=auth(key)
        )
        results.append(resp.get_json())

    threads = [threading.Thread(target=post) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r["processed"] for r in results] == [1] * threads_n
    assert sum(r["suppressed"] for r in results) == 1
    assert _soft_count(app, "busy@example.com") == threads_n
    assert _reasons(app, "busy@example.com") == ["hard_bounce"]


def test_openapi_describes_the_endpoint(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    post = doc["paths"]["/api/v1/events"]["post"]
    content = post["requestBody"]["content"]
    assert set(content) == {"application/json", "message/rfc822", "multipart/report"}
    assert content["message/rfc822"]["schema"] == {"type": "string"}
    assert {"202", "400", "401", "403", "413", "415", "422"} <= set(post["responses"])
    event = doc["components"]["schemas"]["BounceEvent"]
    assert event["additionalProperties"] is False
    assert set(event["required"]) == {"email", "type"}
    assert event["properties"]["type"]["enum"] == ["hard_bounce", "soft_bounce", "complaint"]
    batch = doc["components"]["schemas"]["BounceEventBatch"]
    assert batch["properties"]["events"]["maxItems"] == 500
    answer = post["responses"]["202"]["content"]["application/json"]["schema"]["oneOf"]
    assert [a["$ref"].rsplit("/", 1)[1] for a in answer] == ["EventsResult", "ReportResult"]
    report = doc["components"]["schemas"]["ReportResult"]
    assert {"processed", "suppressed", "recipients", "problems"} <= set(report["required"])
    outcome = doc["components"]["schemas"]["BounceOutcome"]
    assert set(outcome["properties"]) == {"email", "status", "reason", "hard", "suppressed"}
