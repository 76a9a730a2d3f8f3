"""In headless Chromium: a campaign's progress told truthfully while it is young and slow,
paused, cancelled and finished, with real workers delivering to aiosmtpd; the home page at a
glance; and every error of a form shown at once, at its field, with what was typed kept."""

from __future__ import annotations

import base64
import csv
import io
import re
from pathlib import Path

from flask import Flask
from playwright.sync_api import Locator, Page, expect

from invites.core.config import Settings
from invites.staff import Role

from ..support.browser import shot, sign_in, worker_and_scheduler
from ..support.campaigns import expected, make_campaign, people, seed
from ..support.dashboard import world
from ..support.servers import serve
from ..support.smtpd import SMTPSink
from ..support.staff import make_staff
from ..support.wait import until

#: Mean brightness (0–255) of a screenshot's pixels, worked out by the browser itself.
_BRIGHTNESS = """async (png) => {
  const img = new Image();
  img.src = "data:image/png;base64," + png;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, img.width, img.height).data;
  let sum = 0;
  for (let i = 0; i < d.length; i += 4) sum += (d[i] + d[i + 1] + d[i + 2]) / 3;
  return sum / (d.length / 4);
}"""


def _brightness(page: Page, element: Locator) -> float:
    """How light an element looks on screen (a blank page decodes it: no console CSP)."""
    png = base64.b64encode(element.screenshot()).decode()
    blank = page.context.new_page()
    try:
        return float(blank.evaluate(_BRIGHTNESS, png))
    finally:
        blank.close()


def _seconds(text: str) -> int:
    """A time left as the page words it ("1 min 5 s", "35 s", "about 20 s at the limit")."""
    found = re.fullmatch(r"(?:about )?(?:(\d+) min )?(\d+) s(?: at the limit)?", text.strip())
    assert found, text
    return int(found.group(1) or 0) * 60 + int(found.group(2))


def _done(page: Page) -> int:
    return int(page.inner_text('#progress [data-part="done"]'))


def test_progress_tells_the_truth_young_slow_paused_cancelled_finished(
    app: Flask, settings: Settings, smtp_sink: SMTPSink, page: Page, tmp_path: Path
) -> None:
    audience = people(60)
    reach = len(expected(audience))
    with serve(settings, smtp_url=smtp_sink.url, campaign_batch_size=10) as (live, base):
        seed(live, audience)
        make_staff(live, "mia@example.com", Role.MARKETING)
        slow = make_campaign(live, rate_per_second=1)
        sign_in(page, base, "mia@example.com")
        page.goto(f"{base}/console/campaigns/{slow}")
        # A draft shows what applies: when and to how many, no progress, rate or results.
        expect(page.locator("#when")).to_contain_text(f"{reach} contacts")
        assert page.locator("#progress, #results, [data-part=eta]").count() == 0

        # Sent with no worker running yet: nothing has left, and the page says so.
        page.click("#send-now")
        page.click("#confirm-step")
        expect(page.locator("#status")).to_have_text("sending")
        assert page.inner_text('#progress [data-part="rate"]') == "starting"  # not "0.0/s"
        assert page.inner_text("#progress [data-part=eta]").endswith("at the limit")
        assert page.inner_text('#progress [data-part="percent"]') == "0.0"
        # The empty bar looks empty: a light track, not a dark bar.
        assert _brightness(page, page.locator("#progress progress.bar")) > 200

        with worker_and_scheduler(live):
            until(lambda: _done(page) >= 5, "five messages at 1/s", seconds=90)
            rate = page.inner_text('#progress [data-part="rate"]')
            window = page.inner_text('#progress [data-part="rate-window"]')
            left = int(page.inner_text('#progress [data-part="total"]')) - _done(page)
            eta = _seconds(page.inner_text("#progress [data-part=eta]"))
            # Young and slow: the rate of its few seconds, and a time left that fits it (the
            # minute's average read 0.1/s here, and a time left ten times too long).
            assert re.fullmatch(r"\d\.\d/s", rate) and 0.5 <= float(rate[:-2]) <= 1.5, rate
            assert re.fullmatch(r"\(last \d+ s\)", window), window
            assert 0 < eta <= 2.5 * left + 5, (eta, left)
            page.set_viewport_size({"width": 1200, "height": 900})
            shot(page, tmp_path, "console-campaign-sending.png")

            page.click("#pause")
            expect(page.locator("#status")).to_have_text("paused")
            # A state with who paused it; no red banner, no rate and no time left.
            expect(page.locator("#paused-state")).to_contain_text("Paused by mia@example.com.")
            assert page.locator(".flash.error, #progress [data-part=eta]").count() == 0
            assert "Waiting (paused)" in page.inner_text("#outcomes")
            shot(page, tmp_path, "console-campaign-paused.png")

            page.click("#resume")
            expect(page.locator("#status")).to_have_text("sending")
            page.click("#cancel")
            page.click("#confirm-step")
            expect(page.locator("#status")).to_have_text("cancelled")
            outcomes = page.inner_text("#outcomes")
            assert "Still queued" not in outcomes and "Not sent: cancelled first" in outcomes
            assert (
                page.locator("#progress [data-part=eta], #progress [data-part=rate]").count() == 0
            )

            fast = make_campaign(live)
            page.goto(f"{base}/console/campaigns/{fast}")
            page.click("#send-now")
            page.click("#confirm-step")
            # The page polls; when the campaign is done it shows itself afresh.
            expect(page.locator("#status")).to_have_text("done", timeout=90_000)
        bar = page.locator("#progress progress.bar")
        assert bar.get_attribute("value") == bar.get_attribute("max") == str(reach)
        assert page.locator("#progress [data-part=eta], #progress [data-part=rate]").count() == 0
        assert "Still queued" not in page.inner_text("#outcomes")
        assert "Sent per hour (UTC)" in page.inner_text("#results")  # the viewer's zone: UTC
        with page.expect_download() as download:
            page.click("#results-csv")
        rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
        assert rows[0] == ["section", "item", "count"]
        assert ["outcome", "sent", str(reach)] in rows
        shot(page, tmp_path, "console-campaign-done.png")

        page.click("nav >> text=Campaigns")
        listed = page.locator(f'tr[data-campaign="{slow}"]')
        assert "cancelled" in listed.inner_text()
        assert page.locator(f'tr[data-campaign="{fast}"] progress').get_attribute("value") == str(
            reach
        )


def test_the_home_page_at_a_glance(live: tuple[Flask, str], page: Page, tmp_path: Path) -> None:
    app, base = live
    found = world(app)
    make_staff(app, "boss@example.com", Role.ADMIN, time_zone="Europe/Berlin")
    sign_in(page, base, "boss@example.com")
    attention = page.locator("#attention")
    expect(attention.locator("li")).to_have_count(4)
    assert "2 unknown outcomes to review" in attention.inner_text()
    assert (
        page.locator('#feedback [data-feedback="unsubscribed"] [data-days="30"]').inner_text()
        == "3"
    )
    assert page.locator('#rq-queues [data-queue="mail"] [data-part="queued"]').inner_text() == "1"
    assert "@example.org" not in page.content()
    page.set_viewport_size({"width": 1200, "height": 900})
    shot(page, tmp_path, "console-dashboard.png")
    page.set_viewport_size({"width": 390, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1000, "height": 800})
    # Each item links to where it is handled.
    attention.locator('li[data-kind="held"] a').click()
    assert page.url == f"{base}/console/campaigns/{found['held']}"
    expect(page.locator("#held")).to_contain_text("Its time")
    page.go_back()
    attention.locator('li[data-kind="overdue-requests"] a').click()
    assert page.url == f"{base}/console/privacy?overdue=1"


def test_every_form_error_at_once_at_its_field(
    live: tuple[Flask, str], page: Page, tmp_path: Path
) -> None:
    app, base = live
    make_staff(app, "mia@example.com", Role.MARKETING)
    sign_in(page, base, "mia@example.com")
    page.goto(base + "/console/campaigns/new")
    page.fill("#name", "")
    page.evaluate("document.querySelector('#name').removeAttribute('required')")
    page.check("#category-partner_offers")
    page.fill("#sender", "not an address")
    page.fill("#rate_per_second", "fast")
    page.click("#create-campaign")
    errors = {
        f: page.inner_text(f"#error-{f}")
        for f in ("name", "partner_name", "sender", "rate_per_second")
    }
    assert "Give the campaign a name" in errors["name"]
    assert "names the partner" in errors["partner_name"]
    assert "from address" in errors["sender"] and "whole number" in errors["rate_per_second"]
    for field in errors:
        assert page.get_attribute(f"#{field}", "aria-invalid") == "true"
    assert page.input_value("#sender") == "not an address"  # typed values kept
    assert page.input_value("#rate_per_second") == "fast"
    assert page.is_checked("#category-partner_offers")
    page.set_viewport_size({"width": 1000, "height": 1100})
    shot(page, tmp_path, "console-form-errors.png")

    page.fill("#name", "Winter filters")
    page.fill("#partner_name", "Lens & Co")
    page.fill("#sender", "")
    page.fill("#rate_per_second", "")
    page.click("#create-campaign")
    assert page.url.endswith("/content/en")
    page.fill("#subject", "News for {{ first_name }}")
    page.fill("#body", "# Hi\n\n[Choices]({{ preferences_url }})\n")
    page.click("#save-content")
    # Typed as text, as an older browser without date and time pickers sends them.
    page.evaluate(
        "for (const id of ['schedule-date', 'schedule-time']) {"
        " const el = document.getElementById(id);"
        " el.type = 'text'; el.removeAttribute('required'); }"
    )
    page.fill("#schedule-date", "31/12/2026")
    page.fill("#schedule-time", "25:00")
    page.check("#anchor-local")
    page.fill("#default-zone", "Mars/Base")
    page.click("#schedule")
    for field, words in (
        ("date", "YYYY-MM-DD"),
        ("time", "HH:MM"),
        ("default_zone", "IANA time zone"),
    ):
        assert words in page.inner_text(f"#error-{field}"), field
    # Kept in the page as typed (a date picker shows an impossible date as empty).
    assert page.get_attribute("#schedule-date", "value") == "31/12/2026"
    assert page.input_value("#default-zone") == "Mars/Base"
