"""Support staff with the privacy role start a data request for someone who wrote in, and
record "stop all marketing"; they never see what is held."""

from __future__ import annotations

import json
import logging

import pytest
from flask import Flask
from sqlalchemy import select

from invites.accounts.models import ConsentEvent
from invites.core.addresses import address_hash
from invites.core.audit import AuditEvent
from invites.core.db import db
from invites.core.models import Suppression
from invites.datarequests.models import DataRequest
from invites.staff import Role

from ..support.helpers import auth, link_to, new_key, run_jobs
from ..support.smtpd import SMTPSink
from ..support.staff import post_form, signed_in

ADDRESS = "wrote.in@example.com"


def _account(app: Flask) -> None:
    key = new_key(app, ["contacts"])
    body = {"email": ADDRESS, "locale": "ru", "name": "Wrote In"}
    assert app.test_client().put("/api/v1/contacts/u-5", json=body, headers=auth(key)).status_code
    consent = {"promotional": True, "partner_offers": True, "source": "app"}
    app.test_client().put("/api/v1/contacts/u-5/preferences", json=consent, headers=auth(key))


def test_staff_start_a_request_whose_link_goes_to_the_address(
    smtp_app: Flask, smtp_sink: SMTPSink
) -> None:
    _account(smtp_app)
    staff = signed_in(smtp_app, "support@spotcam.example", Role.PRIVACY)
    page = "/console/privacy"
    resp = post_form(staff, "/console/privacy/requests", {"email": ADDRESS, "locale": "en"}, page)
    assert resp.status_code == 303
    listing = staff.get(page).text
    assert ADDRESS not in listing and "Wrote In" not in listing  # staff never see the data
    assert 'data-status="sent"' in listing and "staff #" in listing
    run_jobs(smtp_app)
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == [ADDRESS]
    assert "Ваши данные" in mail.message["Subject"]  # the contact's own language
    assert link_to(mail, "/privacy/request/")
    with smtp_app.app_context():
        row = db.session.scalars(select(DataRequest)).one()
        assert row.source == "staff" and row.staff_user_id is not None
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "data_request.create")
        ).one()
        assert event.actor == f"staff #{row.staff_user_id}"  # the account, never its address
        assert event.target_id == address_hash(
            ADDRESS, smtp_app.config["SETTINGS"].address_hash_key
        )
        assert ADDRESS not in (event.detail or "")
    bad = post_form(staff, "/console/privacy/requests", {"email": "nope"}, page)
    assert bad.status_code == 400 and 'value="nope"' in bad.text


def test_staff_record_stop_all_marketing(app: Flask) -> None:
    _account(app)
    staff = signed_in(app, "support@spotcam.example", Role.PRIVACY)
    resp = post_form(
        staff, "/console/privacy/stop-marketing", {"stop_email": ADDRESS}, "/console/privacy"
    )
    assert resp.status_code == 303
    with app.app_context():
        email_hash = address_hash(ADDRESS, app.config["SETTINGS"].address_hash_key)
        reasons = db.session.scalars(select(Suppression.reason)).all()
        assert reasons == ["unsubscribed_all"]
        withdrawn = db.session.scalars(
            select(ConsentEvent).where(ConsentEvent.source == "support")
        ).all()
        assert {e.category for e in withdrawn} == {"promotional", "partner_offers"}
        assert not any(e.granted for e in withdrawn)
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "data_request.stop_marketing")
        ).one()
        assert event.target_id == email_hash and json.loads(event.detail or "{}")["outcome"]


def test_the_privacy_role_sees_requests_not_campaigns(app: Flask) -> None:
    staff = signed_in(app, "support@spotcam.example", Role.PRIVACY)
    home = staff.get("/console/").text
    assert "/console/privacy" in home and "/console/campaigns" not in home
    assert staff.get("/console/campaigns").status_code == 403
    marketing = signed_in(app, "mia@spotcam.example", Role.MARKETING)
    assert marketing.get("/console/privacy").status_code == 403
    admin = signed_in(app, "boss@spotcam.example", Role.ADMIN)
    assert admin.get("/console/privacy").status_code == 200


def test_requests_not_answered_in_time_are_flagged(app: Flask) -> None:
    from datetime import timedelta

    from invites.core.db import utcnow

    with app.app_context():
        old = utcnow() - timedelta(days=31)
        for n, status in enumerate(("sent", "opened", "sent")):
            db.session.add(
                DataRequest(
                    public_id=f"r{n}",
                    email_hash=f"{n:064d}",
                    source="self",
                    status=status,
                    created_at=old if n < 2 else utcnow(),
                )
            )
        db.session.commit()
    staff = signed_in(app, "support@spotcam.example", Role.PRIVACY)
    listing = staff.get("/console/privacy").text
    assert listing.count('class="overdue"') == 1
    only = staff.get("/console/privacy?overdue=1").text
    assert only.count("<tr data-id=") == 1
    assert staff.get("/console/privacy?status=opened").text.count("<tr data-id=") == 1


def test_request_records_are_kept_as_long_as_the_register_says(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import timedelta

    from invites.core.db import utcnow
    from invites.datarequests.jobs import forget_data_requests
    from invites.privacy import register

    settings = app.config["SETTINGS"]
    keep = register.period("data_request_records", settings)
    assert keep == timedelta(days=settings.data_request_keep_days)
    with app.app_context():
        now = utcnow()
        for n, age in enumerate((keep + timedelta(hours=1), keep - timedelta(hours=1))):
            db.session.add(
                DataRequest(
                    public_id=f"k{n}",
                    email_hash=f"{n:064d}",
                    source="self",
                    status="opened",
                    created_at=now - age,
                )
            )
        db.session.commit()
        caplog.set_level(logging.INFO)
        assert forget_data_requests() == 1
        assert db.session.scalars(select(DataRequest.public_id)).all() == ["k1"]
    assert "1 data request record(s) past 1095 days erased" in caplog.text
