"""A person clicks: headless Chromium follows the removal link from a received email."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from invites.config import Settings

from .conftest import IN_CI, all_database_text, invite, link_to, make_app, new_key, run_jobs
from .smtpd import SMTPSink

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not os.path.exists(CHROMIUM) and not IN_CI:
    # Outside CI the browser is optional (apt-get install chromium); in CI it must be there.
    pytest.skip("Debian's chromium is not installed (CI installs it)", allow_module_level=True)


@pytest.fixture()
def live(settings: Settings, smtp_sink: SMTPSink) -> Iterator[tuple[Flask, str]]:
    """The app served over real HTTP on a free port, delivering to the test SMTP server."""
    server = make_server("127.0.0.1", 0, Flask(__name__), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app = make_app(settings, smtp_url=smtp_sink.url, public_base_url=base)
    server.app = app  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, base
    server.shutdown()


@pytest.fixture()
def page(tmp_path: Path) -> Iterator[object]:
    """A Chromium page (Debian's browser, never a downloaded one)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser.new_page()
        browser.close()


def test_click_remove_button(
    live: tuple[Flask, str], smtp_sink: SMTPSink, page, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    app, base = live
    invite(
        app.test_client(),
        new_key(app, ["invitations"]),
        "clicker@example.com",
        inviter_name="Boris",
        locale="ru",
    )
    run_jobs(app)
    [mail] = smtp_sink.wait_for(1)
    removal = base + link_to(mail, "/r/")

    page.goto(removal)
    assert page.title() == "Удаление адреса"
    assert "clicker@example.com" in all_database_text(app)  # opening the page changed nothing
    page.screenshot(path=str(tmp_path / "confirm.png"))
    page.click("#remove")
    page.wait_for_selector("#result")
    assert page.inner_text("#result") == "Ваш адрес удалён"
    assert page.url == removal  # answered in place, no redirect
    assert "clicker@example.com" not in all_database_text(app)

    page.goto(removal)
    assert "уже удалён" in page.inner_text("#already")
