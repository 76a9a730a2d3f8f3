"""Development: mail goes to a local outbox that a page lists and shows."""

from __future__ import annotations

import dataclasses

from flask import Flask

from invites import create_app
from invites.config import Settings

from .conftest import invite, new_key, run_jobs


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
