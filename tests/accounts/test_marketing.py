"""The one send path for marketing mail: eligibility at send time, RFC 8058 headers, footer."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask

from invites.accounts import contacts
from invites.accounts import mail as messages
from invites.accounts.models import Contact
from invites.core import queue
from invites.core.db import db, utcnow
from invites.delivery.models import OutboundMessage

from ..support.helpers import run_jobs
from ..support.smtpd import SMTPSink


def _contact(app: Flask, **grants: bool) -> int:
    with app.app_context():
        settings = app.config["SETTINGS"]
        contact, _ = contacts.upsert(
            db.session, "u-1", "fan@example.com", "en", "Fan <b>", settings, utcnow()
        )
        changes = [contacts.Change(name, granted, "app") for name, granted in grants.items()]
        if changes:
            contacts.apply(db.session, contact, changes, settings, utcnow())
        db.session.commit()
        return contact.id


def _choose(app: Flask, contact_id: int, category: str, granted: bool, source: str) -> None:
    with app.app_context():
        contact = db.session.get(Contact, contact_id)
        assert contact is not None
        change = contacts.Change(category, granted, source)
        contacts.apply(db.session, contact, [change], app.config["SETTINGS"], utcnow())
        db.session.commit()


def _queue(app: Flask, contact_id: int, category: str, subject: str = "Hi {{ name }}") -> int:
    with app.app_context():
        contact = db.session.get(Contact, contact_id)
        assert contact is not None
        msg = messages.queue_marketing(
            db.session,
            contact,
            category,
            subject=subject,
            body_html="<h1>News for {{ name }}</h1><p>New filters.</p>",
            body_text="News for {{ name }}: new filters.",
            now=utcnow(),
        )
        db.session.commit()
        queue.enqueue_deliveries([msg.id], queue.CAMPAIGN_QUEUE)
        return msg.id


def _status(app: Flask, message_id: int) -> str:
    with app.app_context():
        msg = db.session.get(OutboundMessage, message_id)
        assert msg is not None
        return msg.status


def test_one_click_stops_a_message_already_queued(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    contact_id = _contact(smtp_app, promotional=True)
    first = _queue(smtp_app, contact_id, "promotional")
    run_jobs(smtp_app)
    [mail] = smtp_sink.wait_for(1)
    msg = mail.message
    assert msg["From"] == "SpotCam News <news@spotcam.example>"
    assert msg["Subject"] == "Hi Fan <b>"
    assert msg.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    [header] = msg.get_all("List-Unsubscribe", [])
    url = header.strip("<>")
    assert url.startswith("https://mail.spotcam.test/p/")
    assert "fan@example.com" not in url
    # The body has a visible unsubscribe link: the same URL.
    assert f"Unsubscribe: {url}" in (mail.text or "")
    assert f'href="{url}"' in (mail.html or "")
    assert "News for Fan &lt;b&gt;" in (mail.html or "")  # staff template output is escaped
    assert _status(smtp_app, first) == "sent"

    second = _queue(smtp_app, contact_id, "promotional")  # queued before the unsubscribe
    resp = smtp_app.test_client().post(
        urlsplit(url).path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert resp.status_code == 200 and "Location" not in resp.headers
    run_jobs(smtp_app)
    assert len(smtp_sink.messages) == 1
    assert _status(smtp_app, second) == "cancelled"


def test_partner_offers_need_consent(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    contact_id = _contact(smtp_app)  # never chose anything
    without = _queue(smtp_app, contact_id, "partner_offers")
    promo = _queue(smtp_app, contact_id, "promotional")  # opt-out: on by default
    run_jobs(smtp_app)
    assert _status(smtp_app, without) == "cancelled"
    assert _status(smtp_app, promo) == "sent"
    _choose(smtp_app, contact_id, "partner_offers", True, "app")
    granted = _queue(smtp_app, contact_id, "partner_offers")
    run_jobs(smtp_app)
    assert _status(smtp_app, granted) == "sent"
    _choose(smtp_app, contact_id, "partner_offers", False, "api")
    withdrawn = _queue(smtp_app, contact_id, "partner_offers")
    run_jobs(smtp_app)
    assert _status(smtp_app, withdrawn) == "cancelled"
    assert len(smtp_sink.messages) == 2


def test_staff_template_cannot_escape_the_sandbox(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    contact_id = _contact(smtp_app, promotional=True)
    bad = _queue(
        smtp_app,
        contact_id,
        "promotional",
        subject="{{ ''.__class__.__mro__[1].__subclasses__() }}",
    )
    run_jobs(smtp_app)
    assert _status(smtp_app, bad) == "failed"
    assert smtp_sink.messages == []


def test_service_is_not_a_marketing_category(app: Flask) -> None:
    contact_id = _contact(app)
    with app.app_context():
        contact = db.session.get(Contact, contact_id)
        assert contact is not None
        try:
            messages.queue_marketing(
                db.session,
                contact,
                "service",
                subject="s",
                body_html="h",
                body_text="t",
                now=utcnow(),
            )
        except ValueError as exc:
            assert "not a marketing category" in str(exc)
        else:
            raise AssertionError("service accepted as marketing")


def test_invitation_removal_does_not_block_a_later_account(
    smtp_app: Flask, smtp_sink: SMTPSink
) -> None:
    from invites.core.addresses import address_hash
    from invites.core.suppression import suppress

    with smtp_app.app_context():
        key = smtp_app.config["SETTINGS"].address_hash_key
        suppress(db.session, address_hash("fan@example.com", key), "removed", utcnow())
        db.session.commit()
    contact_id = _contact(smtp_app, promotional=True)
    sent = _queue(smtp_app, contact_id, "promotional")
    run_jobs(smtp_app)
    assert _status(smtp_app, sent) == "sent"
    with smtp_app.app_context():
        suppress(db.session, address_hash("fan@example.com", key), "complaint", utcnow())
        db.session.commit()
    blocked = _queue(smtp_app, contact_id, "promotional")
    run_jobs(smtp_app)
    assert _status(smtp_app, blocked) == "suppressed"
