"""A person clicks: headless Chromium follows the removal link from a received email."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from playwright.sync_api import Page

from ..support.helpers import all_database_text, invite, link_to, new_key, run_jobs
from ..support.smtpd import SMTPSink


def test_click_remove_button(
    live: tuple[Flask, str], smtp_sink: SMTPSink, page: Page, tmp_path: Path
) -> None:
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
    assert page.url == removal + "/done"  # post, then redirect, then get
    assert "clicker@example.com" not in all_database_text(app)
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    page.reload()  # a reload asks nothing to be sent again
    assert page.inner_text("#result") == "Ваш адрес удалён" and posted == []

    page.goto(removal)
    assert "уже удалён" in page.inner_text("#already")
