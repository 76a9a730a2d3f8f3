"""The invitation API: keys, validation, idempotency, limits and hostile input."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.pool import QueuePool
from werkzeug.test import TestResponse

from invites.core.config import Settings
from invites.core.db import db, utcnow
from invites.delivery.models import OutboundMessage
from invites.invitations import lifecycle as invitations
from invites.invitations.models import Invitation, InviterDailyCount

from ..support.helpers import (
    all_database_text,
    auth,
    invite,
    make_app,
    must_get,
    new_key,
    run_jobs,
)
from ..support.smtpd import SMTPSink

PROBLEM = "application/problem+json"


def _problem(resp: TestResponse, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body = resp.get_json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    return body


def test_key_required_and_scoped(client: FlaskClient, app: Flask) -> None:
    body = {"inviter_id": "u", "inviter_name": "A", "email": "a@example.com"}
    _problem(client.post("/api/v1/invitations", json=body), 401)
    _problem(client.post("/api/v1/invitations", json=body, headers=auth("sk_nope_nope")), 401)
    stats_only = new_key(app, ["stats"])
    assert (
        "lacks the 'invitations' scope"
        in _problem(client.post("/api/v1/invitations", json=body, headers=auth(stats_only)), 403)[
            "detail"
        ]
    )
    invitations_only = new_key(app, ["invitations"])
    _problem(client.get("/api/v1/stats/invitations", headers=auth(invitations_only)), 403)


def test_revoked_key_is_refused(client: FlaskClient, app: Flask) -> None:
    key = new_key(app, ["invitations"])
    runner = app.test_cli_runner()
    prefix = key.split("_")[1]
    assert runner.invoke(args=["api-keys", "revoke", prefix]).exit_code == 0
    _problem(invite(client, key), 401)


def test_malformed_and_invalid_bodies(client: FlaskClient, api_key: str) -> None:
    h = auth(api_key)
    _problem(
        client.post(
            "/api/v1/invitations", data="{not json", headers=h, content_type="application/json"
        ),
        400,
    )
    _problem(
        client.post(
            "/api/v1/invitations",
            data="email=x",
            headers=h,
            content_type="application/x-www-form-urlencoded",
        ),
        415,
    )
    assert _problem(client.post("/api/v1/invitations", json=[1, 2], headers=h), 422)
    body = _problem(
        client.post(
            "/api/v1/invitations",
            headers=h,
            json={
                "inviter_id": "bad id with spaces",
                "inviter_name": "   ",
                "email": "not-an-address",
                "locale": "de",
                "colour": "red",
            },
        ),
        422,
    )
    fields = {e["field"] for e in body["errors"]}
    assert {"inviter_id", "inviter_name", "locale", "colour"} <= fields
    body = _problem(invite(client, api_key, "someone@"), 422)
    assert body["errors"][0]["field"] == "email"
    big = "x" * 20000
    _problem(
        client.post(
            "/api/v1/invitations",
            headers=h,
            data='{"note": "' + big + '"}',
            content_type="application/json",
        ),
        413,
    )


def test_errors_lose_nothing_already_stored(client: FlaskClient, app: Flask, api_key: str) -> None:
    assert invite(client, api_key, "keep@example.com").status_code == 202
    invite(client, api_key, "bad@@example.com")
    client.post(
        "/api/v1/invitations", data="{", headers=auth(api_key), content_type="application/json"
    )
    assert "keep@example.com" in all_database_text(app)


def test_hostile_name_and_note(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    client = smtp_app.test_client()
    key = new_key(smtp_app, ["invitations"])
    name = "Eve\r\nBcc: victim@example.com\u202e<script>alert(1)</script>"
    note = (
        "<img src=x onerror=alert(1)> visit https://evil.example/login or www.phish.example "
        "\x1b[31m\r\nX-Injected: yes"
    )
    # A NUL is refused outright (as in every string the API takes), the rest is cleaned.
    assert invite(client, key, "target@example.com", note="a\x00b").status_code == 422
    assert (
        invite(client, key, "target@example.com", inviter_name=name, note=note).status_code == 202
    )
    run_jobs(smtp_app)
    [mail] = smtp_sink.wait_for(1)
    msg = mail.message
    assert mail.rcpt_tos == ["target@example.com"]
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert "\n" not in msg["Subject"] and "\u202e" not in msg["Subject"]
    html, text = mail.html or "", mail.text or ""
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "&lt;img src=x" in html
    # Links in user text are not made clickable, in either part.
    assert "https://evil.example" not in html and "https://evil.example" not in text
    assert "www.phish.example" not in html and "www.phish.example" not in text
    assert 'href="https://evil' not in html
    assert "\x1b" not in text


def test_over_long_text_is_refused(client: FlaskClient, api_key: str) -> None:
    body = _problem(invite(client, api_key, inviter_name="n" * 81), 422)
    assert body["errors"][0]["field"] == "inviter_name"
    body = _problem(invite(client, api_key, note="n" * 501), 422)
    assert "at most 500" in body["errors"][0]["message"]


def test_idempotency_key(client: FlaskClient, app: Flask, api_key: str) -> None:
    body = {"inviter_id": "u1", "inviter_name": "Anna", "email": "idem@example.com"}
    h = auth(api_key, **{"Idempotency-Key": "order-42"})
    first = client.post("/api/v1/invitations", json=body, headers=h)
    second = client.post("/api/v1/invitations", json=body, headers=h)
    assert first.status_code == second.status_code == 202
    assert first.get_json() == second.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    with app.app_context():
        assert db.session.query(OutboundMessage).count() == 1
        assert must_get(InviterDailyCount, ("u1", utcnow().date())).requested == 1
    reused = client.post("/api/v1/invitations", json={**body, "email": "x@example.com"}, headers=h)
    assert _problem(reused, 422)["type"].endswith("idempotency-key-reused")

    _problem(
        client.post(
            "/api/v1/invitations",
            json=body,
            headers=auth(api_key, **{"Idempotency-Key": "bad key\u00e9"}),
        ),
        422,
    )


def test_idempotency_record_cannot_be_matched_to_a_guessed_body(
    client: FlaskClient, app: Flask, api_key: str
) -> None:
    from invites.core.models import IdempotencyRecord

    raw = b'{"inviter_id": "u1", "inviter_name": "Anna", "email": "guess@example.com"}'
    h = auth(api_key, **{"Idempotency-Key": "k-guess", "Content-Type": "application/json"})
    assert client.post("/api/v1/invitations", data=raw, headers=h).status_code == 202
    with app.app_context():
        stored = db.session.scalars(db.select(IdempotencyRecord.request_hash)).one()
    # Whoever reads the table and guesses the body can't confirm the guess without the key.
    guessed = hashlib.sha256(b"POST/api/v1/invitations\0" + raw).hexdigest()
    assert stored != guessed and len(stored) == 64
    # The same body still replays.
    again = client.post("/api/v1/invitations", data=raw, headers=h)
    assert again.headers["Idempotent-Replayed"] == "true"


def test_idempotency_under_concurrency(settings: Settings, api_key: str, app: Flask) -> None:
    body = {"inviter_id": "u1", "inviter_name": "Anna", "email": "race@example.com"}
    h = auth(api_key, **{"Idempotency-Key": "same-key"})
    results: list[int] = []

    def post() -> None:
        results.append(
            app.test_client().post("/api/v1/invitations", json=body, headers=h).status_code
        )

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [202] * 6
    with app.app_context():
        assert db.session.query(OutboundMessage).count() == 1


def test_same_answer_whatever_is_held(client: FlaskClient, app: Flask, api_key: str) -> None:
    answers = [invite(client, api_key, "dup@example.com", inviter_id=f"u{i}") for i in range(3)]
    assert {(r.status_code, r.get_data()) for r in answers} == {(202, b'{"status": "accepted"}')}
    with app.app_context():
        assert db.session.query(Invitation).count() == 1  # one invitation per address window


def test_daily_limit(settings: Settings, api_key: str) -> None:
    app = make_app(settings, invites_per_inviter_day=3, invites_per_inviter_month=50)
    client = app.test_client()
    for i in range(3):
        assert invite(client, api_key, f"d{i}@example.com").status_code == 202
    resp = invite(client, api_key, "d9@example.com")
    body = _problem(resp, 429)
    assert "per day" in body["detail"]
    retry = int(resp.headers["Retry-After"])
    assert 0 < retry <= 86400
    # Another inviter is not affected.
    assert invite(client, api_key, "d9@example.com", inviter_id="user-2").status_code == 202
    # A refused request is not counted, so it never pushes the inviter further out.
    with app.app_context():
        assert _requested(app, "user-1") == 3


def test_monthly_limit_is_rolling(settings: Settings, api_key: str) -> None:
    app = make_app(settings, invites_per_inviter_day=10, invites_per_inviter_month=4)
    today = utcnow().date()
    with app.app_context():
        db.session.add(
            InviterDailyCount(inviter_id="user-1", day=today - timedelta(days=29), requested=3)
        )
        db.session.commit()
    client = app.test_client()
    assert invite(client, api_key, "m1@example.com").status_code == 202
    resp = invite(client, api_key, "m2@example.com")
    assert "per month" in _problem(resp, 429)["detail"]
    # The 3 old requests leave the 30-day window at the next midnight.
    assert 0 < int(resp.headers["Retry-After"]) <= 86400
    # Refused, so not counted: today holds only the one that was taken.
    assert _requested(app, "user-1", today) == 1
    # Once the old days have left the window there is room again.
    with app.app_context():
        db.session.query(InviterDailyCount).filter_by(day=today - timedelta(days=29)).update(
            {"day": today - timedelta(days=30)}
        )
        db.session.commit()
    assert invite(client, api_key, "m3@example.com").status_code == 202


def _requested(app: Flask, inviter_id: str, day: date | None = None) -> int:
    with app.app_context():
        row = db.session.get(InviterDailyCount, (inviter_id, day or utcnow().date()))
        return row.requested if row else 0


@pytest.mark.parametrize("window_days", [1])
def test_address_window_across_inviters(settings: Settings, api_key: str, window_days: int) -> None:
    from invites.invitations.models import AddressThrottle

    app = make_app(settings, invite_address_window_days=window_days)
    client = app.test_client()
    assert invite(client, api_key, "w@example.com").status_code == 202
    assert invite(client, api_key, "w@example.com", inviter_id="user-2").status_code == 202
    with app.app_context():
        assert db.session.query(Invitation).count() == 1
        row = db.session.query(AddressThrottle).one()
        row.invited_at = utcnow() - timedelta(days=window_days, seconds=1)
        inv = db.session.query(Invitation).one()
        inv.status = "expired"
        db.session.commit()
    assert invite(client, api_key, "w@example.com", inviter_id="user-3").status_code == 202
    with app.app_context():
        assert db.session.query(Invitation).count() == 2
    run_jobs(app)


def test_key_cache_bounds_revocation_delay(settings: Settings, api_key: str) -> None:
    from invites.api.auth import Caller
    from invites.core.models import ApiKey

    for ttl, still_works in ((0, False), (60, True)):
        app = make_app(settings, api_key_cache_seconds=ttl)
        client = app.test_client()
        key = new_key(app, ["invitations"])
        assert invite(client, key, f"c{ttl}@example.com").status_code == 202
        with app.app_context():
            db.session.query(ApiKey).update({"revoked_at": utcnow()})
            db.session.commit()
        status = invite(client, key, f"d{ttl}@example.com").status_code
        assert status == (202 if still_works else 401)
        cached = app.extensions.get("spotcam_keys", {})
        assert all(isinstance(entry[1], Caller) for entry in cached.values())


@pytest.mark.postgresql
def test_autocommitted_invitation_leaves_pooled_connections_transactional(
    app: Flask, client: FlaskClient, api_key: str
) -> None:
    assert invite(client, api_key, "pool@example.com").status_code == 202
    with app.app_context():
        pool = db.engine.pool
        assert isinstance(pool, QueuePool)
        lent = [db.engine.raw_connection() for _ in range(pool.size())]
        try:
            drivers = [raw.driver_connection for raw in lent]
            assert all(d is not None and d.autocommit is False for d in drivers)
        finally:
            for raw in lent:
                raw.close()
        # A unit of work on any of them still rolls back as a whole.
        db.session.add(InviterDailyCount(inviter_id="rolled-back", day=utcnow().date()))
        db.session.flush()
        db.session.rollback()
        assert db.session.get(InviterDailyCount, ("rolled-back", utcnow().date())) is None
        assert db.session.query(OutboundMessage).count() == 1


@pytest.mark.postgresql
def test_invitations_survive_a_database_restart(
    app: Flask, client: FlaskClient, api_key: str
) -> None:
    from sqlalchemy import text

    from invites.core import queue
    from invites.delivery import relay

    assert invite(client, api_key, "before@example.com").status_code == 202
    with app.app_context():
        # Fill the pool with several idle connections, as a busy process has.
        lent = [db.engine.raw_connection() for _ in range(3)]
        for raw in lent:
            raw.close()
        # What a PostgreSQL restart or failover does to every pooled connection.
        with db.engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    # Forget the cached key: the first request's key lookup meets a dead connection too.
    app.extensions["spotcam_keys"].clear()
    addresses = [f"after{i}@example.com" for i in range(3)]
    # The dead connections are dropped and the lookup and the call run again on new ones:
    # nobody sees a 500.
    assert [invite(client, api_key, a).status_code for a in addresses] == [202, 202, 202]
    with app.app_context():
        sent_to = db.session.scalars(
            db.select(Invitation).join(
                OutboundMessage, OutboundMessage.invitation_id == Invitation.id
            )
        ).all()
        assert sorted(i.email for i in sent_to) == [*addresses, "before@example.com"]
        assert relay.drain() == 4  # every wake-up committed, the one from before the restart too
        assert len(queue.queue(queue.MAIL_QUEUE).get_job_ids()) == 4


@pytest.mark.postgresql
@pytest.mark.parametrize("wait_for_disk", [False, True])
def test_an_invitation_commits_without_waiting_for_the_disk_unless_told(
    app: Flask, wait_for_disk: bool
) -> None:
    from sqlalchemy import text

    settings = dataclasses.replace(
        app.config["SETTINGS"], invitation_synchronous_commit=wait_for_disk
    )
    request = invitations.NewInvitation("u-1", "Anna", "friend@example.com", "en", None)
    with app.app_context():
        # In a transaction (the Idempotency-Key path), to read what its commit will use.
        assert invitations.create(db.session, request, settings, utcnow()) is not None
        mode = db.session.execute(text("SHOW synchronous_commit")).scalar_one()
        db.session.commit()
        assert mode == ("on" if wait_for_disk else "off")
        assert db.session.execute(text("SHOW synchronous_commit")).scalar_one() == "on"


@pytest.mark.postgresql
def test_the_send_claim_waits_for_the_disk_whatever_the_default(app: Flask) -> None:
    from sqlalchemy import event, text

    from invites.delivery.jobs import _claim

    request = invitations.NewInvitation("u-1", "Anna", "friend@example.com", "en", None)
    with app.app_context():
        message_id = invitations.create(db.session, request, app.config["SETTINGS"], utcnow())
        assert message_id is not None
        db.session.commit()
        database = db.session.execute(text("SELECT current_database()")).scalar_one()
        db.session.commit()
        # An operator who turned synchronous commits off for the whole database.
        db.session.execute(text(f'ALTER DATABASE "{database}" SET synchronous_commit = off'))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
        at_commit: list[str] = []

        def record(session: Any) -> None:
            at_commit.append(session.execute(text("SHOW synchronous_commit")).scalar_one())

        try:
            assert db.session.execute(text("SHOW synchronous_commit")).scalar_one() == "off"
            db.session.rollback()
            event.listen(db.session, "before_commit", record)
            assert _claim(message_id, "token") is True
        finally:
            event.remove(db.session, "before_commit", record)
            db.session.rollback()
            db.session.execute(text(f'ALTER DATABASE "{database}" RESET synchronous_commit'))
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
        # The claim's commit waited for the WAL flush, and with it the invitation's rows.
        assert at_commit == ["on"]
