"""What people do about a campaign while and after it goes out: an unsubscribe mid-send stops
their mail at once; unsubscribes, complaints and hard bounces count against the campaign."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import pytest
from flask import Flask

from invites.accounts.models import Contact
from invites.campaigns.content import unsubscribe_url
from invites.campaigns.models import Campaign
from invites.campaigns.progress import attributed
from invites.core.addresses import address_hash
from invites.core.db import db

from ..support.campaigns import (
    Person,
    expected,
    make_campaign,
    people,
    seed,
    send_now,
    status,
    until_done,
)
from ..support.helpers import auth, new_key
from ..support.processes import Processes
from ..support.smtpd import SMTPSink
from .test_campaign_delivery import _wait


def _one_click_path(app: Flask, campaign_id: int, email: str) -> str:
    with app.app_context():
        email_hash = address_hash(email, app.config["SETTINGS"].address_hash_key)
        contact = db.session.scalars(
            db.select(Contact).where(Contact.email_hash == email_hash)
        ).one()
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        url = unsubscribe_url(app.config["SETTINGS"], app, contact.public_id, campaign)
    return urlsplit(url).path


@pytest.mark.postgresql
# A relay 30 ms away: a round of 100 contacts would hold its locks for 3 s, but a round ends
# at its half second, and the next message's envelope, announced behind the content, does
# not carry it on past that.
@pytest.mark.parametrize("reply_after", [0.005, 0.03], ids=["near", "30ms-away"])
def test_an_unsubscribe_mid_campaign_stops_that_persons_mail_at_once(
    camp: Flask, smtp_sink: SMTPSink, processes: Processes, reply_after: float
) -> None:
    audience = [p for p in people(400) if p.gets("promotional")]
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    smtp_sink.store_then_reply_late(reply_after, times=10_000)
    send_now(camp, campaign_id)
    processes.start(camp.config["SETTINGS"], "worker", "--queues", "mail,campaigns")
    _wait(lambda: len(smtp_sink.messages) >= 40, "the campaign to be under way")
    # People the campaign hasn't reached yet, right behind the one on the wire: some
    # are locked by the round in progress, so their POST waits for it.
    reached = {m.rcpt_tos[0] for m in smtp_sink.messages}
    waiting = [p.email for p in audience if p.email not in reached][:15]
    client = camp.test_client()
    answered: dict[str, tuple[float, float]] = {}

    def unsubscribe(email: str) -> None:
        path = _one_click_path(camp, campaign_id, email)
        started = time.time()
        resp = client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert resp.status_code == 200
        answered[email] = (started, time.time())

    threads = [threading.Thread(target=unsubscribe, args=(e,)) for e in waiting]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _wait(lambda: status(camp, campaign_id) == "done", "the campaign to finish", 120)
    for email, (_started, returned) in answered.items():
        after = [
            m for m in smtp_sink.messages if m.rcpt_tos == [email] and m.received_at > returned
        ]
        assert after == [], f"{email} got mail after their unsubscribe returned"
    # An unsubscribe waits at most for the round in progress (about half a second).
    assert max(r - s for s, r in answered.values()) < 1.5
    with camp.app_context():
        counts = attributed(db.session, campaign_id)
    assert counts["unsubscribed"] == len(waiting)


def test_a_complaint_and_a_hard_bounce_count_against_their_campaign(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    audience = [Person(n, f"p{n}@example.org", "en", True, None, None) for n in (1, 2, 3)]
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    send_now(camp, campaign_id)
    until_done(camp, campaign_id)
    assert {m.rcpt_tos[0] for m in smtp_sink.messages} == expected(audience)
    by_rcpt = {m.rcpt_tos[0]: m for m in smtp_sink.messages}
    key = new_key(camp, ["events"])
    events = [
        # A feedback loop names the message: its Message-ID says which campaign it was.
        {
            "email": "p1@example.org",
            "type": "complaint",
            "message_id": by_rcpt["p1@example.org"].message["Message-ID"],
        },
        # A bounce processor that doesn't: the ledger knows what was sent to that address.
        {"email": "p2@example.org", "type": "hard_bounce", "detail": "550 5.1.1 unknown"},
    ]
    resp = camp.test_client().post("/api/v1/events", json={"events": events}, headers=auth(key))
    assert resp.status_code == 202
    # Reported twice: counted once (the address was already suppressed).
    camp.test_client().post("/api/v1/events", json={"events": events}, headers=auth(key))
    with camp.app_context():
        counts = attributed(db.session, campaign_id)
    assert counts == {"unsubscribed": 0, "complained": 1, "bounced": 1}


def test_a_contact_gives_its_time_zone_through_the_api(camp: Flask) -> None:
    key = new_key(camp, ["contacts"])
    client = camp.test_client()
    ok = client.put(
        "/api/v1/contacts/u-1",
        json={"email": "z@example.org", "time_zone": "Asia/Tokyo"},
        headers=auth(key),
    )
    assert ok.status_code == 201 and ok.get_json()["time_zone"] == "Asia/Tokyo"
    bad = client.put(
        "/api/v1/contacts/u-1",
        json={"email": "z@example.org", "time_zone": "Mars/Olympus_Mons"},
        headers=auth(key),
    )
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "time_zone"
    assert client.get("/api/v1/contacts/u-1", headers=auth(key)).get_json()["time_zone"] == (
        "Asia/Tokyo"
    )
