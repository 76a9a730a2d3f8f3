"""Development: mail goes to a local outbox that a page lists and shows."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page

from invites import create_app
from invites.core.config import Settings

from ..support.helpers import all_database_text, invite, new_key, run_jobs


def test_outbox_pages(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/dev/outbox").status_code == 200
    invite(client, new_key(app, ["invitations"]), "look@example.com", inviter_name="<b>Bold</b>")
    run_jobs(app)
    listing = client.get("/dev/outbox").get_data(as_text=True)
    assert "look@example.com" in listing and "&lt;b&gt;Bold&lt;/b&gt; invited you" in listing
    entry = listing.split('href="/dev/outbox/')[1].split('"')[0]
    page = client.get(f"/dev/outbox/{entry}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<iframe sandbox" in html and "List-Unsubscribe" in html
    raw = client.get(f"/dev/outbox/{entry}.eml")
    assert raw.mimetype == "message/rfc822" and b"Subject:" in raw.data
    assert client.get("/dev/outbox/..%2f..%2fetc%2fpasswd").status_code == 404


def test_no_outbox_pages_with_smtp_or_in_production(settings: Settings) -> None:
    with_smtp = create_app(dataclasses.replace(settings, smtp_url="smtp://127.0.0.1:1"))
    assert with_smtp.test_client().get("/dev/outbox").status_code == 404
    prod = create_app(dataclasses.replace(settings, env="production"))
    assert prod.test_client().get("/dev/outbox").status_code == 404


def test_on_a_phone_the_outbox_reads_well_and_its_links_work(
    live_outbox: tuple[Flask, str], page: Page, tmp_path: Path
) -> None:
    app, base = live_outbox
    address = "a.rather.long.address.for.a.phone@example.com"
    invite(app.test_client(), new_key(app, ["invitations"]), address, inviter_name="Boris")
    run_jobs(app)

    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(base + "/dev/outbox")
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], "the outbox overflows at phone width"
    to = page.locator(".mail-list .to").first
    assert to.inner_text() == address
    # One line box: the address is not broken mid-word.
    assert to.evaluate("e => e.getClientRects().length") == 1
    page.screenshot(path=str(tmp_path / "outbox-phone.png"))

    page.click(".mail-list .subject")
    frame = page.frame_locator("iframe")
    with page.expect_popup() as opened:
        frame.locator("a[href*='/r/']").first.click()
    removal = opened.value
    removal.wait_for_load_state()
    assert "/r/" in removal.url
    removal.click("#remove")
    removal.wait_for_selector("#result")
    assert address not in all_database_text(app)
