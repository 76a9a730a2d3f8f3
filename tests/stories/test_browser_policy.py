"""In headless Chromium: an admin publishes a policy version in the console, and a person
reads the policy, its archive and the processing register, in English and Russian."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page

from invites.core import audit
from invites.core.db import db, utcnow
from invites.staff import Role, users

from ..support.browser import shot
from ..support.policy import INITIAL, begin_archive, publish
from ..support.staff import PASSWORD, make_staff


def _fits(page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_an_admin_publishes_a_version_and_it_is_public(
    live: tuple[Flask, str], page: Page, tmp_path: Path
) -> None:
    app, base = live
    make_staff(app, "dpo@example.com", Role.ADMIN)
    page.goto(base + "/console/")
    page.fill("#email", "dpo@example.com")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.click("nav >> text=Privacy policy")
    assert page.url == base + "/console/policies"
    assert page.inner_text(f'tr[data-label="{INITIAL}"] [data-part="state"]') == "in force"
    page.click("#new-version-link")

    today = utcnow().date()
    # A material change too soon is refused, and what was typed stays in the form.
    page.fill("#label", "2027-01")
    page.fill("#effective_on", (today + timedelta(days=10)).isoformat())
    page.check("#material")
    page.check("#changes_partner_sharing")
    for locale, words in (("en", "We now work with partners differently."), ("ru", "Иначе.")):
        page.fill(f"#summary_{locale}", words)
        page.fill(f"#body_{locale}", f"# Policy ({locale})\n\n**Partners** get nothing.")
    page.click("#save-draft")
    assert "at least 30 days" in page.inner_text("#problem-effective_on")
    assert page.input_value("#label") == "2027-01"
    assert page.input_value("#summary_ru") == "Иначе."
    assert page.is_checked("#changes_partner_sharing")
    effective = today + timedelta(days=40)
    page.fill("#effective_on", effective.isoformat())
    page.click("#save-draft")

    assert page.inner_text("p.flash") == "Draft 2027-01 saved. Check it, then publish it."
    assert page.inner_text('[data-part="state"]') == "draft"
    assert "Partners" in page.inner_text("#preview-en strong")  # the Markdown, rendered
    page.check("#confirm")
    page.click("#publish")
    assert "Version 2027-01 is published" in page.inner_text("p.flash")
    assert page.inner_text('[data-part="state"]') == "upcoming"
    assert page.inner_text("#notice-on") == (effective - timedelta(days=30)).isoformat()
    assert page.locator("#version-form").count() == 0  # a published version has no form
    _fits(page, 390)
    shot(page, tmp_path, "console-policy-version.png")
    with app.app_context():
        published = [e for e in audit.recent(db.session) if e.action == "policy.publish"]
        dpo = users.find_by_email(db.session, "dpo@example.com")
        assert dpo is not None
        assert [(e.actor, e.details["label"]) for e in published] == [(dpo.label, "2027-01")]
        db.session.remove()

    # The public archive has it at once, upcoming, in both languages.
    page.set_viewport_size({"width": 1000, "height": 800})
    page.click("#public-link")
    assert page.url == base + "/privacy/policy/2027-01"
    assert "This version is not in force yet." in page.inner_text("#not-current")
    assert page.inner_text("#policy-body h1") == "Policy (en)"
    page.click("#lang-ru")
    assert page.inner_text("#policy-body h1") == "Policy (ru)"
    assert page.inner_text("#summary") == "Иначе."


def test_a_person_reads_the_policy_its_archive_and_the_register(
    live: tuple[Flask, str], page: Page, tmp_path: Path
) -> None:
    app, base = live
    begin_archive(app, 60)
    publish(app, "2027-01", 0, published_days_ago=40, material=True)
    page.goto(base + "/privacy/policy")
    assert "Version 2027-01" in page.inner_text("#version-line")
    page.click("#all-versions")
    assert page.url == base + "/privacy/policy/versions?lang=en"
    rows = page.locator("#versions tbody tr")
    assert rows.count() == 2
    assert page.inner_text(f'tr[data-label="{INITIAL}"] .state') == "superseded"
    page.click(f'tr[data-label="{INITIAL}"] a')
    assert "This is not the version in force." in page.inner_text("#not-current")
    assert page.is_visible("#placeholder")
    page.click("#not-current a")
    assert page.url == base + "/privacy/policy/2027-01?lang=en"
    page.click("#lang-ru")
    assert page.inner_text("h1") == "Политика конфиденциальности"
    _fits(page, 390)
    shot(page, tmp_path, "privacy-policy.png")

    page.set_viewport_size({"width": 1000, "height": 800})
    page.goto(base + "/privacy/processing")
    assert page.locator("section.purpose[id^=purpose-]").count() == 10
    partner = page.inner_text("#purpose-partner_offers")
    assert "consent (GDPR art. 6(1)(a)" in partner and "Partners receive nothing" in partner
    page.click("#lang-ru")
    assert "Предложения партнёров" in page.inner_text("#purpose-partner_offers h2")
    _fits(page, 390)
    shot(page, tmp_path, "privacy-processing.png")
