"""A person clicks: headless Chromium opens the preference centre from a marketing email."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import Flask

from invites.accounts import contacts
from invites.accounts import mail as messages
from invites.accounts.models import ConsentEvent, Preference
from invites.core import queue
from invites.core.db import db, utcnow
from invites.core.models import Suppression

from ..support.helpers import links, run_jobs
from ..support.smtpd import ReceivedMessage, SMTPSink

if TYPE_CHECKING:
    from playwright.sync_api import Page


def receive_marketing(app: Flask, smtp_sink: SMTPSink, name: str = "Ann") -> ReceivedMessage:
    """An account holder who wants SpotCam news gets one; return the message as it arrived."""
    with app.app_context():
        settings = app.config["SETTINGS"]
        now = utcnow()
        contact, _ = contacts.upsert(
            db.session, "user-7", "ann@example.com", "en", name, settings, now
        )
        contacts.apply(
            db.session, contact, [contacts.Change("promotional", True, "app")], settings, now
        )
        msg = messages.queue_marketing(
            db.session,
            contact,
            "promotional",
            subject="Hi {{ name }}",
            body_html="<p>News</p>",
            body_text="News",
            now=now,
        )
        db.session.commit()
        queue.enqueue_deliveries([msg.id])
        db.session.remove()
    run_jobs(app)
    [mail] = smtp_sink.wait_for(1)
    assert mail.message["Subject"] == f"Hi {name}"
    return mail


def unsubscribe_link(mail: ReceivedMessage) -> str:
    """The https (here http) URI of the List-Unsubscribe header."""
    [header] = mail.message.get_all("List-Unsubscribe") or []
    assert mail.message.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    return re.findall(r"<([^>]+)>", str(header))[0]


def snapshot(app: Flask) -> tuple[list[tuple], list[tuple], list[str]]:
    """Everything a click could change: consent log, preferences, suppression list."""
    with app.app_context():
        log = [
            (e.category, e.granted, e.source)
            for e in db.session.scalars(db.select(ConsentEvent).order_by(ConsentEvent.id))
        ]
        prefs = [
            (p.category, p.granted)
            for p in db.session.scalars(db.select(Preference).order_by(Preference.category))
        ]
        blocked = list(db.session.scalars(db.select(Suppression.reason)))
        db.session.remove()
    return log, prefs, blocked


def screenshot_path(tmp_path: Path) -> Path:
    """docs/ (or wherever SCREENSHOT_DIR points) for the README; else this test's tmp folder."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "preference-centre.png"


def test_choose_in_the_preference_centre(
    live: tuple[Flask, str], smtp_sink: SMTPSink, page: Page, tmp_path: Path
) -> None:
    app, base = live
    mail = receive_marketing(app, smtp_sink)
    url = unsubscribe_link(mail)
    assert url.startswith(base + "/p/")
    assert url in (mail.text or "")  # the visible link in the body is the same one

    page.goto(url)
    assert page.title() == "Email preferences"
    assert page.is_checked("#cat-service") and page.is_disabled("#cat-service")
    assert page.is_checked("#cat-promotional")
    assert not page.is_checked("#cat-partner_offers")
    assert "This email" in page.inner_text("li.focus")  # the row this email came from

    page.check("#cat-partner_offers")
    page.uncheck("#cat-promotional")
    page.click("#save")
    page.wait_for_selector("#notice")
    assert page.inner_text("#notice") == "Saved. Your choices apply from now on."
    assert page.url == url  # answered in place
    page.screenshot(path=str(screenshot_path(tmp_path)))

    page.goto(url)  # open it again (a reload would resend the POST)
    assert not page.is_checked("#cat-promotional")
    assert page.is_checked("#cat-partner_offers")
    assert page.query_selector("#notice") is None
    log, prefs, blocked = snapshot(app)
    assert log[-2:] == [
        ("promotional", False, "preference_page"),
        ("partner_offers", True, "preference_page"),
    ]
    assert prefs == [("partner_offers", True), ("promotional", False)]
    assert blocked == []


def test_following_every_link_changes_nothing(
    live: tuple[Flask, str], smtp_sink: SMTPSink, page: Page
) -> None:
    app, base = live
    mail = receive_marketing(app, smtp_sink)
    urls = {unsubscribe_link(mail), *links(mail)}
    ours = sorted(u for u in urls if u.startswith(base + "/"))
    assert any("/p/" in u for u in ours)
    before = snapshot(app)
    assert before[0] == [("promotional", True, "app")]

    # What a mail scanner does: GET and HEAD every link, then a browser opening each one.
    client = app.test_client()
    for url in ours:
        path = urlsplit(url).path
        assert client.get(path).status_code == 200, url
        assert client.head(path).status_code == 200, url
        response = page.goto(url)
        assert response is not None and response.status == 200, url
    assert snapshot(app) == before
