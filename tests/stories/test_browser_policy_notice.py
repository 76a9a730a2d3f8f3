"""In headless Chromium: an admin publishes a material policy change in the console and
watches its notices go out, on the version's page and on the notice campaign's page; real
workers and the scheduler deliver them to aiosmtpd, one to each account holder."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, expect

from invites.core.config import Settings
from invites.core.db import utcnow
from invites.staff import Role

from ..support.browser import shot, worker_and_scheduler
from ..support.campaigns import people, seed
from ..support.servers import serve
from ..support.smtpd import SMTPSink
from ..support.staff import PASSWORD, make_staff


def test_an_admin_publishes_a_material_change_and_watches_its_notices_go_out(
    app: Flask, settings: Settings, smtp_sink: SMTPSink, page: Page, tmp_path: Path
) -> None:
    audience = people(60)
    # Service mail stops only for a dead address or a spam report.
    expected = {p.email for p in audience if p.suppressed not in ("hard_bounce", "complaint")}
    with serve(
        settings, smtp_url=smtp_sink.url, campaign_batch_size=15, campaign_tick_seconds=1
    ) as (live, base):
        seed(live, audience)
        make_staff(live, "dpo@example.com", Role.ADMIN)
        page.goto(base + "/console/login")
        page.fill("#email", "dpo@example.com")
        page.fill("#password", PASSWORD)
        page.click("#sign-in")
        page.click("nav >> text=Privacy policy")
        page.click("#new-version-link")
        page.fill("#label", "2027-01")
        effective = utcnow().date() + timedelta(days=30)
        page.fill("#effective_on", effective.isoformat())
        page.check("#material")
        for locale, words in (("en", "We keep logs for 14 days."), ("ru", "Журналы — 14 дней.")):
            page.fill(f"#summary_{locale}", words)
            page.fill(f"#body_{locale}", f"# Policy ({locale})\n\nLogs: 14 days.")
        page.click("#save-draft")
        page.check("#confirm")
        page.click("#publish")

        flash = page.inner_text("p.flash")
        assert "Version 2027-01 is published" in flash
        assert "Its notice goes to every account holder" in flash
        assert page.inner_text("#notice-status") == "scheduled"
        with worker_and_scheduler(live):
            # The version's page polls the notice's progress and shows itself afresh as its
            # state changes: scheduled → sending → done.
            expect(page.locator("#notice-status")).to_have_text("done", timeout=90_000)
        assert page.inner_text('#notice-counts [data-part="sent"]') == str(len(expected))
        bar = page.locator("#notice progress.bar")
        assert bar.get_attribute("value") == bar.get_attribute("max") == str(len(expected))
        shot(page, tmp_path, "console-policy-notice.png")

        page.click("#notice-campaign")
        assert page.inner_text("#status") == "done"
        assert "Notice of a privacy-policy change" in page.inner_text("#policy-notice")
        assert page.inner_text('#outcomes [data-part="sent"]') == str(len(expected))
        assert page.locator("#duplicate").count() == 0
        assert page.locator("#cancel").count() == 0
        page.click("#policy-version-link")
        assert page.inner_text("h1") == "Version 2027-01"

    got = Counter(m.rcpt_tos[0] for m in smtp_sink.messages)
    assert set(got) == expected and max(got.values()) == 1
    subjects = {m.message["Subject"] for m in smtp_sink.messages}
    assert subjects == {
        f"Our privacy policy changes on {effective}",
        f"Политика конфиденциальности меняется с {effective}",
    }
