"""The policy archive's pages, in English and Russian; the preference centre's links to it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import time_machine
from flask import Flask

from invites.accounts import contacts
from invites.accounts import mail as messages
from invites.core.db import db, utcnow
from invites.core.mail import tokens
from invites.privacy import publishing, versions

from ..support.policy import INITIAL, admin, begin_archive, draft, publish


def test_the_policy_in_force_every_version_and_each_one_for_good(app: Flask) -> None:
    begin_archive(app, 60)
    publish(app, "2027-01", 0, published_days_ago=40, material=True)  # in force today
    publish(app, "2027-06", 45, material=True, partner=True)  # upcoming
    client = app.test_client()
    today = utcnow().date()
    current = client.get("/privacy/policy")
    assert current.status_code == 200
    assert "Version 2027-01" in current.text and f"In force since {today}" in current.text
    assert "What changed in 2027-01." in current.text
    assert 'id="not-current"' not in current.text
    assert f'href="/privacy/policy/{INITIAL}?lang=en"' in current.text  # the previous version
    assert "<h1>SpotCam privacy policy</h1>" in current.text  # the Markdown, rendered

    listing = client.get("/privacy/policy/versions")
    rows = listing.text.split('<tr data-label="')[1:]
    assert [row.split('"', 1)[0] for row in rows] == ["2027-06", "2027-01", INITIAL]
    assert ">upcoming<" in rows[0] and ">in force<" in rows[1] and ">superseded<" in rows[2]
    assert f"{today - timedelta(days=60)} – {today}" in rows[2]
    assert "What changed in 2027-06." in rows[0]

    old = client.get(f"/privacy/policy/{INITIAL}?lang=ru")
    assert old.status_code == 200 and 'lang="ru"' in old.text
    assert "Это не действующая версия. Действующая версия — 2027-01." in old.text
    assert "её текст старше архива" in old.text  # the placeholder says so
    upcoming = client.get("/privacy/policy/2027-06")
    assert "This version is not in force yet." in upcoming.text
    assert "partner offers stop for anyone who consented under an earlier version" in (
        upcoming.text
    )
    russian = client.get("/privacy/policy/2027-06", headers={"Accept-Language": "ru"})
    assert "Что изменилось в 2027-06." in russian.text and "Политика SpotCam" in russian.text


def test_an_unknown_label_or_a_draft_gets_a_readable_404(app: Flask) -> None:
    with app.app_context():
        publishing.create(
            db.session,
            draft("2027-02", utcnow().date() + timedelta(days=3)),
            app.config["SETTINGS"],
            admin(app),
            utcnow(),
        )
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    for path in ("/privacy/policy/2027-02", "/privacy/policy/nothing%3Cb%3E"):
        resp = client.get(path + "?lang=ru")
        assert resp.status_code == 404 and resp.mimetype == "text/html"
        assert "Такой версии нет" in resp.text
    assert "nothing&lt;b&gt;" in client.get("/privacy/policy/nothing%3Cb%3E").text
    assert "2027-02" not in client.get("/privacy/policy/versions").text  # drafts aren't public


def test_policy_text_is_rendered_safely(app: Flask) -> None:
    body = (
        "# Title\n\n<script>alert(1)</script>\n\n[bad](javascript:alert(1)) "
        '[good](https://spotcam.example/a) <img src=x onerror="alert(1)">\n\n'
        "| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    with app.app_context():
        boss, settings = admin(app), app.config["SETTINGS"]
        version = publishing.create(
            db.session,
            draft("2027-03", utcnow().date() + timedelta(days=1), body=body),
            settings,
            boss,
            utcnow(),
        )
        publishing.publish(db.session, version.id, settings, boss, utcnow())
        db.session.commit()
        db.session.remove()
    page = app.test_client().get("/privacy/policy/2027-03").text
    article = page.split('id="policy-body">', 1)[1].split("</div>", 1)[0]
    assert "<script" not in article and "&lt;script&gt;" in article
    assert "javascript:" not in article.replace("[bad](javascript:alert(1))", "")
    # What looks like HTML is shown as text: no element, no attribute of one.
    assert re.search(r"<img|<[^>]*onerror", article) is None and "&lt;img" in article
    assert '<a href="https://spotcam.example/a" rel="noopener noreferrer nofollow">good</a>' in (
        article
    )
    assert "<table>" in article


def _preference_page(app: Flask, locale: str = "en") -> str:
    with app.app_context():
        settings = app.config["SETTINGS"]
        contact, _ = contacts.upsert(
            db.session, "u-1", "ann@example.com", locale, "Ann", settings, utcnow()
        )
        contacts.apply(
            db.session,
            contact,
            [contacts.Change("partner_offers", True, "app")],
            settings,
            utcnow(),
        )
        db.session.commit()
        url = messages.preferences_url(settings, tokens(), contact, "partner_offers")
        db.session.remove()
    return urlsplit(url).path


def test_the_preference_centre_links_each_choice_to_its_policy_version(app: Flask) -> None:
    path = _preference_page(app)
    page = app.test_client().get(path).text
    today = utcnow().date()
    assert f"Chosen on {today} under privacy policy" in page
    assert f'href="/privacy/policy/{INITIAL}?lang=en">{INITIAL}</a>' in page
    assert 'id="policy-in-force"' in page


def test_the_preference_centre_says_why_partner_offers_stopped(app: Flask) -> None:
    begin_archive(app, 60)
    ru_path = _preference_page(app, "ru")
    publish(app, "2027-01", 31, partner=True)
    client = app.test_client()
    before = client.get(ru_path).text
    assert 'id="voided-partner_offers"' not in before
    assert 'id="cat-partner_offers" name="category" value="partner_offers" checked' in before
    day = datetime.combine(utcnow().date() + timedelta(days=31), datetime.min.time(), tzinfo=UTC)
    with time_machine.travel(day + timedelta(hours=2), tick=False):
        after = client.get(ru_path).text
        english = client.get(ru_path, headers={"Accept-Language": "en"}).text
        with app.app_context():
            assert versions.in_force(db.session, versions.today()).label == "2027-01"  # type: ignore[union-attr]
            db.session.remove()
    assert 'id="voided-partner_offers"' in after
    assert "изменила работу с предложениями партнёров" in after
    assert 'href="/privacy/policy/2027-01?lang=ru">2027-01</a>' in after
    # Off, and ticking it and saving is how to consent again.
    assert 'value="partner_offers" checked' not in after
    assert "Off since" not in english  # the contact's own language wins over the browser's
