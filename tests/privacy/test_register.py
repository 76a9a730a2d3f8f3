"""The processing register covers every column, drives the retention jobs and is shown to people."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from flask import Flask

from invites.accounts.categories import CATEGORIES
from invites.core.config import Settings
from invites.core.db import db
from invites.core.locale import LOCALES
from invites.privacy import register

from ..support.helpers import make_app


def test_every_column_is_named_by_a_purpose_or_listed_as_not_personal(app: Flask) -> None:
    named = register.named_columns()
    not_personal = {
        (table, column)
        for table, (_why, columns) in register.NOT_PERSONAL.items()
        for column in columns
    }
    with app.app_context():
        actual = {(t.name, c.name) for t in db.metadata.sorted_tables for c in t.columns}
    unclassified = sorted(actual - named - not_personal)
    assert unclassified == [], (
        "classify these columns in invites/privacy/purposes_*.py (a purpose that holds them) "
        f"or in register.NOT_PERSONAL: {unclassified}"
    )
    # And the register names nothing that isn't there (a renamed column would hide behind it).
    assert sorted((named | not_personal) - actual) == []
    # A column is personal or not, never both.
    assert sorted(named & not_personal) == []


def test_a_new_column_fails_until_someone_classifies_it() -> None:
    from sqlalchemy import Column, MetaData, String, Table

    metadata = MetaData()
    Table("contacts", metadata, Column("id"), Column("nickname", String))
    actual = {(t.name, c.name) for t in metadata.sorted_tables for c in t.columns}
    assert ("contacts", "nickname") in actual - register.named_columns()


def test_every_word_is_in_every_language() -> None:
    def texts() -> list[dict[str, str]]:
        found: list[dict[str, str]] = [*register.PEOPLE.values(), *register.SECURITY]
        for recipient in register.RECIPIENTS.values():
            found += [recipient.title, recipient.what]
        for purpose in register.purposes():
            found += [purpose.title, purpose.description, purpose.legal_basis]
            found += [h.what for h in purpose.data] + [r.what for r in purpose.retention]
            found += [purpose.note] if purpose.note else []
        return found

    for words in texts():
        assert set(words) == set(LOCALES), words
        assert all(value.strip() for value in words.values()), words


def test_purposes_name_known_people_and_recipients_and_partners_get_nothing() -> None:
    names = [p.name for p in register.purposes()]
    assert names == [
        "invitation",
        "registration",
        "invitation_statistics",
        "service_email",
        "promotional_email",
        "partner_offers",
        "suppression",
        "data_requests",
        "staff_audit",
        "campaign_delivery",
    ]
    for purpose in register.purposes():
        assert purpose.data and purpose.people and purpose.retention and purpose.recipients
        assert set(purpose.people) <= set(register.PEOPLE)
        assert set(purpose.recipients) <= set(register.RECIPIENTS)
        assert "hosting" in purpose.recipients
    assert {r.role for r in register.RECIPIENTS.values()} == {"processor"}
    partner = next(p for p in register.purposes() if p.name == "partner_offers")
    assert partner.note is not None and "Partners receive nothing" in partner.note["en"]


def test_the_marketing_purposes_state_the_legal_basis_of_their_category() -> None:
    by_name = {p.name: p for p in register.purposes()}
    for category, purpose in (
        ("service", "service_email"),
        ("promotional", "promotional_email"),
        ("partner_offers", "partner_offers"),
    ):
        assert by_name[purpose].legal_basis["en"] == CATEGORIES[category].legal_basis


def test_periods_come_from_the_settings_through_the_register(settings: Settings) -> None:
    changed = dataclasses.replace(
        settings,
        invitation_window_days=12,
        removal_link_days=45,
        invite_address_window_days=90,
        soft_bounce_window_days=3,
    )
    assert register.period("invitation_address", changed) == timedelta(days=12)
    assert register.period("removal_hash", changed) == timedelta(days=45)
    assert register.period("address_throttle", changed) == timedelta(days=90)
    assert register.period("soft_bounces", changed) == timedelta(days=3)
    assert register.period("idempotency_answers", changed) == timedelta(hours=24)
    assert register.rule("invitation_address").describe(changed, "ru").count("12 дн.") == 1


def test_the_scheduler_runs_every_erasing_job_the_register_names(app: Flask) -> None:
    from invites.delivery.worker import make_scheduler

    with app.app_context():
        cron = make_scheduler()
        scheduled = {job.func_name: job.interval for job in cron.get_jobs()}
    jobs = register.jobs()
    assert set(jobs) == {
        "invites.invitations.jobs.expire_invitations",
        "invites.feedback.jobs.forget_soft_bounce_windows",
        "invites.privacy.jobs.forget_idempotency_answers",
        "invites.datarequests.jobs.forget_data_requests",
    }
    for job, seconds in jobs.items():
        assert scheduled[job] == seconds


def test_the_page_shows_the_register_in_english_and_russian(app: Flask) -> None:
    client = app.test_client()
    english = client.get("/privacy/processing")
    assert english.status_code == 200 and english.mimetype == "text/html"
    russian = client.get("/privacy/processing?lang=ru")
    by_browser = client.get("/privacy/processing", headers={"Accept-Language": "ru-RU,ru;q=0.9"})
    assert russian.text == by_browser.text
    for purpose in register.purposes():
        assert f'id="purpose-{purpose.name}"' in english.text
        assert purpose.title["en"] in english.text and purpose.title["ru"] in russian.text
        assert purpose.legal_basis["ru"] in russian.text
    assert "Partners receive nothing" in english.text
    assert "Партнёры ничего не получают" in russian.text
    # The periods as configured: INVITATION_WINDOW_DAYS (30) and REMOVAL_LINK_DAYS (730).
    assert "at most 30 days" in english.text and "(730 days)" in english.text
    assert "не дольше 30 дн." in russian.text


def test_the_page_and_the_json_follow_the_settings(settings: Settings) -> None:
    app = make_app(settings, invitation_window_days=7)
    client = app.test_client()
    assert "at most 7 days" in client.get("/privacy/processing").text
    record = client.get("/api/v1/privacy/processing").get_json()
    [invitation] = [p for p in record["purposes"] if p["name"] == "invitation"]
    [window] = [r for r in invitation["retention"] if r["name"] == "invitation_address"]
    assert window["period_seconds"] == 7 * 86400
    assert window["setting"] == "INVITATION_WINDOW_DAYS"
    assert window["erased_by"] == "invites.invitations.jobs.expire_invitations"
    assert window["every_seconds"] == 3600


def test_the_json_record_is_public_and_is_the_register(app: Flask) -> None:
    resp = app.test_client().get("/api/v1/privacy/processing")  # no API key
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    record = resp.get_json()
    assert record["controller"] == "SpotCam"
    assert [p["name"] for p in record["purposes"]] == [p.name for p in register.purposes()]
    listed = {
        (holding["table"], column)
        for purpose in record["purposes"]
        for holding in purpose["data"]
        for column in holding["columns"]
    }
    assert listed == register.named_columns()
    [partner] = [p for p in record["purposes"] if p["name"] == "partner_offers"]
    assert partner["legal_basis"].startswith("consent")
    assert {s["name"] for s in partner["data_subjects"]} == {"account_holders"}
    assert partner["recipients"] == ["smtp_relay", "hosting"]
    assert {r["name"]: r["role"] for r in record["recipients"]} == {
        "smtp_relay": "processor",
        "hosting": "processor",
    }
    assert record["security_measures"] and record["not_personal"]


def test_the_openapi_document_describes_the_record(app: Flask) -> None:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    operation = doc["paths"]["/api/v1/privacy/processing"]["get"]
    assert operation["security"] == []  # public
    schema_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    record = app.test_client().get("/api/v1/privacy/processing").get_json()
    assert set(schema["required"]) == set(record)
    purpose = doc["components"]["schemas"]["PurposeOut"]
    assert set(purpose["required"]) == set(record["purposes"][0])
    retention = doc["components"]["schemas"]["RetentionOut"]
    assert set(retention["required"]) == set(record["purposes"][0]["retention"][0])


def test_the_readme_lists_every_erasing_job_and_its_setting() -> None:
    from ..support.helpers import ROOT

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Privacy by design", 1)[1].split("\n## ", 1)[0]
    for rule in register.retention_rules():
        if rule.setting:
            assert f"`{rule.setting}`" in section, rule.setting
    for job in register.jobs():
        assert f"`{job}`" in section, job
