"""A person asks for their data in headless Chromium: the form, the email that arrives, the
link, the page, the download, a correction, and erasing everything."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page

from ..support.helpers import all_database_text, auth, link_to, new_key, redis_text, run_jobs
from ..support.smtpd import SMTPSink

ADDRESS = "browser.person@example.com"


def test_request_link_page_download_erase(
    live: tuple[Flask, str],
    smtp_sink: SMTPSink,
    page: Page,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    app, base = live
    key = new_key(app, ["contacts"])
    client = app.test_client()
    body = {"email": ADDRESS, "locale": "en", "name": "Bea Browser"}
    assert client.put("/api/v1/contacts/u-7", json=body, headers=auth(key)).status_code == 201
    consent = {"partner_offers": True, "source": "app"}
    assert client.put("/api/v1/contacts/u-7/preferences", json=consent, headers=auth(key))

    page.goto(base + "/privacy/request")
    page.fill("#email", ADDRESS)
    page.click("#send")
    page.wait_for_selector("#sent")
    run_jobs(app)
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == [ADDRESS]
    link = base + link_to(mail, "/privacy/request/")

    page.goto(link)
    page.click("#open")
    page.wait_for_selector("#contact")
    assert ADDRESS in page.inner_text("#lead")
    assert "Bea Browser" in page.inner_text("#contact")
    assert "Partner offers" in page.inner_text("#consents")
    page.screenshot(path=str(tmp_path / "data.png"), full_page=True)

    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / "export.json"
    download.value.save_as(saved)
    exported = json.loads(saved.read_text())
    assert exported["contact"]["name"] == "Bea Browser"
    assert [c["category"] for c in exported["consent_history"]] == ["partner_offers"]

    page.select_option("#locale", "ru")
    page.click("#save-language")
    page.wait_for_selector("#notice")
    assert page.inner_text("#contact-locale") == "ru"

    page.click("#erase-start")
    page.wait_for_selector("#erase-now")
    page.uncheck("#keep")
    page.check("#confirm")
    page.click("#erase-now")
    page.wait_for_selector("#erased")
    # Nothing kept, as asked (the page stays in the language it is read in).
    assert page.inner_text("#kept").startswith("No do-not-contact entry was kept")
    assert page.inner_text("#erased-counts li[data-name=contacts] strong") == "1"
    assert page.inner_text("#erased-counts li[data-name=consent_events] strong") == "1"

    stored = all_database_text(app)
    assert ADDRESS not in stored and "Bea Browser" not in stored
    from invites.core import queue

    assert ADDRESS.encode() not in redis_text(queue.connection(app))
    assert ADDRESS not in caplog.text

    page.goto(link)  # the link was used: refused
    assert page.get_attribute("#refused", "data-reason") == "used"
