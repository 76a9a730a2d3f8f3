"""A marketer in headless Chromium writes a campaign, previews both languages, sends a test,
sends it, watches the bar reach 100% and reads the results; real workers deliver to aiosmtpd.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, expect

from invites.core.config import Settings
from invites.staff import Role

from ..support.browser import shot, sign_in, worker_and_scheduler
from ..support.campaigns import expected, people, received, seed
from ..support.servers import serve
from ..support.smtpd import SMTPSink
from ..support.staff import make_staff
from ..support.wait import until

BODY = (
    "# Hello {{ first_name }}\n\nOur winter filters are here.\n\n"
    "[Your choices]({{ preferences_url }})\n"
)


def _open_campaign(page: Page, base: str, email: str, name: str) -> None:
    sign_in(page, base, email)
    page.click("nav >> text=Campaigns")
    page.click(f"text={name}")


def _write(page: Page, subject: str, body: str) -> None:
    page.fill("#subject", subject)
    page.fill("#body", body)
    page.click("#save-content")


def test_a_marketer_writes_tests_sends_and_follows_a_campaign(
    app: Flask, settings: Settings, smtp_sink: SMTPSink, page: Page, tmp_path: Path
) -> None:
    audience = people(120)
    with serve(settings, smtp_url=smtp_sink.url, campaign_batch_size=15) as (live, base):
        seed(live, audience)
        make_staff(live, "mia@example.com", Role.MARKETING)
        sign_in(page, base, "mia@example.com")
        page.click("nav >> text=Campaigns")
        assert "No campaigns yet" in page.inner_text("main")
        page.click("#new-campaign-link")
        page.fill("#name", "Winter filters")
        page.click("#create-campaign")
        assert page.url.endswith("/content/en")
        assert f"Would reach {len(expected(audience))} contacts" in page.inner_text("#reach")

        # An escape from the sandbox is refused on save, with its line.
        _write(page, "News for {{ first_name }}", "Hi\n\n{{ ''.__class__.__mro__ }}\n")
        assert "body, line 3" in page.inner_text("#problems")
        assert "__class__" in page.input_value("#body")  # kept to fix
        _write(page, "News for {{ first_name }}", BODY)
        assert "Saved the en content" in page.inner_text("p.flash")
        page.click("#edit-ru")
        _write(page, "Новости для {{ first_name }}", BODY.replace("Hello", "Привет"))

        for locale, subject, greeting in (
            ("en", "News for Alex", "Hello Alex"),
            ("ru", "Новости для Alex", "Привет Alex"),
        ):
            page.click(f"#preview-{locale}") if locale == "en" else page.click("#locale-ru")
            assert page.inner_text("#preview-subject") == subject
            for frame in ("desktop", "phone"):
                heading = page.frame_locator(f"#frame-{frame}").locator("h1").first
                assert heading.inner_text() == greeting
            assert greeting in page.inner_text("#preview-text")
        page.select_option("#sample", "none")
        page.click("#show-sample")
        assert page.frame_locator("#frame-phone").locator("h1").first.inner_text() == "Привет"
        page.set_viewport_size({"width": 1200, "height": 900})
        shot(page, tmp_path, "console-campaign-preview.png")
        page.set_viewport_size({"width": 390, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.set_viewport_size({"width": 1000, "height": 800})
        page.go_back()
        page.go_back()
        page.click("text=Winter filters")

        with worker_and_scheduler(live):
            page.fill("#test-addresses", "qa@spotcam.example")
            page.click("#send-test")
            assert "queued for 1 address" in page.inner_text("p.flash")
            until(lambda: len(smtp_sink.messages) == 1, "the test message")
            assert smtp_sink.messages[0].message["Subject"] == "[TEST] News for Alex"
            smtp_sink.messages.clear()

            page.click("#send-now")
            # First a confirmation: who, which category, when; nothing has changed yet.
            assert page.inner_text("#confirm-count") == str(len(expected(audience)))
            assert page.inner_text("#confirm-category") == "Promotions"
            assert page.inner_text("#confirm-when") == "now"
            page.click("#confirm-step")
            assert "Sending has started." in page.inner_text("main")
            # The page polls; when the campaign is done it shows itself afresh.
            expect(page.locator("#status")).to_have_text("done", timeout=60_000)
        bar = page.locator("#progress progress.bar")
        assert (
            bar.get_attribute("value") == bar.get_attribute("max") == str(len(expected(audience)))
        )
        assert page.inner_text('#outcomes [data-part="sent"]') == str(len(expected(audience)))
        assert set(received(smtp_sink)) == expected(audience)
        assert max(received(smtp_sink).values()) == 1
        history = page.inner_text("#campaign-events")
        for action in ("campaign.create", "campaign.test_send", "campaign.send"):
            assert action in history
        assert "qa@spotcam.example" not in page.content()
        shot(page, tmp_path, "console-campaign.png")
        page.set_viewport_size({"width": 390, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.click("nav >> text=Campaigns")
        row = page.locator("tr[data-campaign]").first
        assert "done" in row.inner_text()
        assert row.locator("progress").get_attribute("value") == str(len(expected(audience)))


def test_a_form_without_its_csrf_token_is_refused(live: tuple[Flask, str], page: Page) -> None:
    app, base = live
    make_staff(app, "mia@example.com", Role.MARKETING)
    sign_in(page, base, "mia@example.com")
    page.goto(base + "/console/campaigns/new")
    page.fill("#name", "Forged")
    page.evaluate("document.querySelector('#new-campaign input[name=csrf_token]').remove()")
    page.click("#create-campaign")
    assert "Form not accepted" in page.inner_text("main")
    page.goto(base + "/console/campaigns")
    assert "No campaigns yet" in page.inner_text("main")


def test_the_two_person_rule_in_the_browser(app: Flask, settings: Settings, page: Page) -> None:
    with serve(settings, campaign_approval="required") as (live, base):
        make_staff(live, "mia@example.com", Role.MARKETING)
        make_staff(live, "leo@example.com", Role.MARKETING)
        sign_in(page, base, "mia@example.com")
        page.goto(base + "/console/campaigns/new")
        page.fill("#name", "Needs two")
        page.click("#create-campaign")
        _write(page, "Hello {{ first_name }}", BODY)
        assert "not approved" in page.inner_text("#approval")
        assert page.locator("#approve").count() == 0  # not for its own editor
        page.click("#send-now")
        assert "must approve the current content" in page.inner_text("p.flash")
        page.click("#logout")

        _open_campaign(page, base, "leo@example.com", "Needs two")
        page.click("#approve")
        assert "approved by leo@example.com" in page.inner_text("#approval")
        page.click("#logout")

        _open_campaign(page, base, "mia@example.com", "Needs two")
        page.click("#send-now")
        page.click("#confirm-step")
        assert page.inner_text("#status") == "sending"
