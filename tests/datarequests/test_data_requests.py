"""A person asks what is held about their address, opens the link that arrives by email, and
sees, downloads, corrects or erases it. Real SMTP (aiosmtpd), real Redis, real RQ jobs."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import redis
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from invites.accounts.models import Contact
from invites.campaigns.models import CampaignBatch, CampaignDelivery
from invites.core.addresses import address_hash
from invites.core.audit import AuditEvent
from invites.core.db import db, utcnow
from invites.core.models import Suppression
from invites.datarequests.models import DataRequest, RequestStatus

from ..support.campaigns import make_campaign
from ..support.helpers import (
    all_database_text,
    auth,
    invite,
    link_to,
    make_app,
    new_key,
    redis_text,
    run_jobs,
)
from ..support.smtpd import SMTPSink

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
ADDRESS = "dana.private@example.com"


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    found = CSRF_INPUT.search(page.text)
    assert found, path
    return found.group(1)


def ask(client: FlaskClient, email: str, **extra: str) -> TestResponse:
    token = csrf(client, "/privacy/request")
    return client.post("/privacy/request", data={"email": email, "csrf_token": token, **extra})


def account(app: Flask, email: str = ADDRESS) -> str:
    """An account holder with a partner consent, synced as the app does; return its key."""
    key = new_key(app, ["contacts", "invitations"])
    client = app.test_client()
    body = {"email": email, "locale": "en", "name": "Dana Private"}
    assert client.put("/api/v1/contacts/u-9", json=body, headers=auth(key)).status_code == 201
    consent = {"partner_offers": True, "source": "app"}
    resp = client.put("/api/v1/contacts/u-9/preferences", json=consent, headers=auth(key))
    assert resp.status_code == 200
    return key


def open_data(app: Flask, client: FlaskClient, mail_path: str) -> None:
    token = csrf(client, mail_path)
    resp = client.post(mail_path, data={"csrf_token": token})
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/privacy/data")


def request_row(app: Flask) -> DataRequest:
    with app.app_context():
        row = db.session.scalars(select(DataRequest).order_by(DataRequest.id.desc())).first()
        assert row is not None
        db.session.expunge(row)
        return row


def test_the_whole_story_from_the_email(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    app = smtp_app
    key = account(app)
    invite(app.test_client(), key, ADDRESS.upper(), inviter_name="Olga", note="Join us")
    client = app.test_client()
    assert ask(client, ADDRESS).status_code == 200
    run_jobs(app)
    mail = smtp_sink.wait_for(1)[-1]
    assert mail.rcpt_tos == [ADDRESS]
    path = link_to(mail, "/privacy/request/")
    assert ADDRESS not in path  # the token names a random id, never the address

    page = client.get(path)  # a scanner's GET spends nothing
    assert page.status_code == 200 and 'id="open"' in page.text
    assert request_row(app).status == RequestStatus.SENT
    open_data(app, client, path)
    shown = client.get("/privacy/data")
    assert shown.status_code == 200
    assert ADDRESS in shown.text and "Dana Private" in shown.text and "Partner offers" in shown.text
    assert "/privacy/policy/" in shown.text  # the consent links to its policy version
    assert shown.headers["Cache-Control"] == "no-store"
    assert client.get("/privacy/data?lang=ru").text.count("Что SpotCam хранит о вас") >= 1

    token = csrf(client, "/privacy/data")
    download = client.post("/privacy/data/export", data={"csrf_token": token})
    assert download.headers["Content-Disposition"].startswith("attachment")
    exported = json.loads(download.data)
    assert exported["schema"] == "spotcam-data-export/1"
    assert exported["contact"]["email"] == ADDRESS and exported["contact"]["name"] == "Dana Private"
    assert [c["category"] for c in exported["consent_history"]] == ["partner_offers"]
    assert {p["category"] for p in exported["preferences"]} >= {"service", "partner_offers"}
    schema = client.get("/privacy/data/schema.json").get_json()
    assert set(schema["properties"]) == set(exported)

    resp = client.post("/privacy/data/language", data={"csrf_token": token, "locale": "ru"})
    assert resp.status_code == 303
    with app.app_context():
        assert db.session.scalars(select(Contact.locale)).one() == "ru"

    # Reusing the link: refused, and the page stays this browser's only.
    assert client.get(path).status_code == 410
    assert app.test_client().get("/privacy/data").status_code == 403

    confirm = client.get("/privacy/data/erase")
    assert confirm.status_code == 200 and 'id="erase-now"' in confirm.text
    token = csrf(client, "/privacy/data/erase")
    refused = client.post("/privacy/data/erase", data={"csrf_token": token, "keep": "on"})
    assert refused.status_code == 400 and 'id="keep" name="keep" checked' in refused.text
    assert ADDRESS in all_database_text(app)
    done = client.post(
        "/privacy/data/erase", data={"csrf_token": token, "keep": "on", "confirm": "yes"}
    )
    assert done.status_code == 303
    result = client.get(done.headers["Location"])
    assert 'data-name="contacts"' in result.text and "<strong>1</strong>" in result.text

    stored = all_database_text(app)
    assert ADDRESS not in stored.lower() and "Dana Private" not in stored and "Olga" not in stored
    assert ADDRESS.encode() not in redis_text(_redis(app))
    with app.app_context():
        email_hash = address_hash(ADDRESS, app.config["SETTINGS"].address_hash_key)
        kept = set(db.session.scalars(select(Suppression.reason)))
        assert kept == {"removed", "unsubscribed_all"}
        assert set(db.session.scalars(select(Suppression.email_hash))) == {email_hash}
        actions = [
            e.action
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.target_id == email_hash)
            )
        ]
        assert actions[:1] == ["data_request.create"] and "data_request.erase" in actions
    # The data page of an erased request is closed.
    assert client.get("/privacy/data").status_code == 403


def _redis(app: Flask) -> redis.Redis:
    from invites.core import queue

    return queue.connection(app)


def test_the_same_answer_in_the_same_time_for_an_unknown_address(
    smtp_app: Flask, smtp_sink: SMTPSink
) -> None:
    account(smtp_app)
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    bodies: dict[str, str] = {}
    for _ in range(2):
        for name, email in (("known", ADDRESS), ("unknown", "nobody.here@example.com")):
            client = smtp_app.test_client()
            token = csrf(client, "/privacy/request")
            started = time.perf_counter()
            resp = client.post("/privacy/request", data={"email": email, "csrf_token": token})
            timings[name].append(time.perf_counter() - started)
            assert resp.status_code == 200
            bodies[name] = resp.text
    assert bodies["known"] == bodies["unknown"]
    floor = smtp_app.config["SETTINGS"].data_request_answer_ms / 1000
    assert min(timings["known"] + timings["unknown"]) >= floor
    assert abs(min(timings["known"]) - min(timings["unknown"])) < 0.05, timings
    run_jobs(smtp_app)
    # One link, to the known address: the second request voided the first before it left,
    # and nothing went to the unknown one.
    [sent] = smtp_sink.wait_for(1)
    assert sent.rcpt_tos == [ADDRESS] and len(smtp_sink.messages) == 1


def test_a_newer_request_voids_the_older_link_and_links_expire(
    smtp_app: Flask, smtp_sink: SMTPSink
) -> None:
    account(smtp_app)
    client = smtp_app.test_client()
    ask(client, ADDRESS)
    run_jobs(smtp_app)
    [first] = smtp_sink.wait_for(1)
    ask(client, ADDRESS)
    run_jobs(smtp_app)
    second = smtp_sink.wait_for(2)[1]
    older, newer = link_to(first, "/privacy/request/"), link_to(second, "/privacy/request/")
    refused = client.get(older)
    assert refused.status_code == 410 and 'data-reason="superseded"' in refused.text
    assert client.post(older, data={"csrf_token": csrf(client, newer)}).status_code == 410
    with time_machine.travel(utcnow() + timedelta(hours=25), tick=False):
        late = client.get(newer)
        assert late.status_code == 410 and 'data-reason="expired"' in late.text
    open_data(smtp_app, client, newer)
    assert client.get("/privacy/data").status_code == 200


def test_requests_are_limited_per_address_and_per_client(
    settings: object, smtp_sink: SMTPSink, app: Flask
) -> None:
    limited = make_app(
        app.config["SETTINGS"],
        smtp_url=smtp_sink.url,
        data_request_limit_per_address="2 per hour",
        data_request_limit_per_ip="4 per hour",
        data_request_answer_ms=0,
    )
    client = limited.test_client()
    assert ask(client, "a@example.com").status_code == 200
    assert ask(client, "a@example.com").status_code == 200
    third = ask(client, "a@example.com")
    assert third.status_code == 429 and int(third.headers["Retry-After"]) > 0
    assert 'value="a@example.com"' in third.text  # what was typed stays
    assert ask(client, "b@example.com").status_code == 200  # 4th from this client: the 4th of 4
    over = ask(client, "c@example.com")
    assert over.status_code == 429 and int(over.headers["Retry-After"]) > 0


def test_a_bad_address_is_refused_with_what_was_typed(app: Flask) -> None:
    resp = ask(app.test_client(), "not an address")
    assert resp.status_code == 400
    assert 'id="problem"' in resp.text and 'value="not an address"' in resp.text


def test_an_invitee_without_an_account_sees_only_the_inviters_name(
    smtp_app: Flask, smtp_sink: SMTPSink
) -> None:
    key = new_key(smtp_app, ["invitations"])
    invite(smtp_app.test_client(), key, "invitee@example.com", inviter_name="Boris")
    run_jobs(smtp_app)
    smtp_sink.wait_for(1)
    client = smtp_app.test_client()
    ask(client, "invitee@example.com")
    run_jobs(smtp_app)
    mail = smtp_sink.wait_for(2)[1]
    open_data(smtp_app, client, link_to(mail, "/privacy/request/"))
    page = client.get("/privacy/data").text
    assert "Boris" in page and "user-1" not in page  # never the inviter's id
    token = csrf(client, "/privacy/data/erase")
    client.post("/privacy/data/erase", data={"csrf_token": token, "confirm": "yes"})
    stored = all_database_text(smtp_app)
    assert "invitee@example.com" not in stored and "Boris" not in stored
    with smtp_app.app_context():
        assert db.session.scalars(select(Suppression)).all() == []  # none kept: none asked


def test_a_new_address_replaces_the_old_only_once_confirmed(
    smtp_app: Flask, smtp_sink: SMTPSink
) -> None:
    account(smtp_app)
    client = smtp_app.test_client()
    ask(client, ADDRESS)
    run_jobs(smtp_app)
    open_data(smtp_app, client, link_to(smtp_sink.wait_for(1)[0], "/privacy/request/"))
    token = csrf(client, "/privacy/data")
    bad = client.post("/privacy/data/address", data={"csrf_token": token, "new_email": "nope"})
    assert bad.status_code == 400 and 'value="nope"' in bad.text
    resp = client.post(
        "/privacy/data/address", data={"csrf_token": token, "new_email": "dana.new@example.com"}
    )
    assert resp.status_code == 303
    run_jobs(smtp_app)
    confirm = smtp_sink.wait_for(2)[1]
    assert confirm.rcpt_tos == ["dana.new@example.com"]
    with smtp_app.app_context():
        assert db.session.scalars(select(Contact)).one().email == ADDRESS  # not yet
    path = link_to(confirm, "/privacy/address/")
    other = smtp_app.test_client()
    assert other.post(path, data={"csrf_token": csrf(other, path)}).status_code == 200
    with smtp_app.app_context():
        assert db.session.scalars(select(Contact)).one().email == "dana.new@example.com"
    assert other.get(path).status_code == 410  # used


def test_api_deletion_erases_the_same_set_campaign_deliveries_included(app: Flask) -> None:
    key = account(app)
    campaign_id = make_campaign(app)
    with app.app_context():
        contact = db.session.scalars(select(Contact)).one()
        batch = CampaignBatch(campaign_id=campaign_id)
        db.session.add(batch)
        db.session.flush()
        db.session.add(
            CampaignDelivery(
                campaign_id=campaign_id,
                contact_id=contact.id,
                batch_id=batch.id,
                status="sent",
                reason=None,
            )
        )
        db.session.commit()
    client = app.test_client()
    assert client.delete("/api/v1/contacts/u-9", headers=auth(key)).status_code == 204
    with app.app_context():
        assert db.session.scalars(select(CampaignDelivery.contact_id)).all() == [None]
    stored = all_database_text(app)
    assert ADDRESS not in stored and "Dana Private" not in stored


def test_two_clicks_at_once_open_the_page_once(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    import threading

    account(smtp_app)
    ask(smtp_app.test_client(), ADDRESS)
    run_jobs(smtp_app)
    path = link_to(smtp_sink.wait_for(1)[0], "/privacy/request/")
    clients = [smtp_app.test_client() for _ in range(2)]
    tokens = [csrf(c, path) for c in clients]
    start = threading.Barrier(2)
    codes: list[int] = []

    def click(client: FlaskClient, token: str) -> None:
        start.wait()
        codes.append(client.post(path, data={"csrf_token": token}).status_code)

    threads = [
        threading.Thread(target=click, args=pair) for pair in zip(clients, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [303, 410]
    opened = [c for c in clients if c.get("/privacy/data").status_code == 200]
    assert len(opened) == 1
    with smtp_app.app_context():
        events = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "data_request.open")
        ).all()
        assert len(events) == 1
