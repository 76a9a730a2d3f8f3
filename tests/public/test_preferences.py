"""The account holder's story: open the preference centre from a link, choose, or leave."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous.timed import TimestampSigner
from werkzeug.test import TestResponse

from invites.accounts import contacts, eligibility
from invites.accounts import mail as messages
from invites.accounts.models import ConsentEvent
from invites.core.db import db, utcnow
from invites.core.mail import tokens
from invites.core.models import Suppression

from ..support.helpers import forge

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
ONE_CLICK = "List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


def new_contact(app: Flask, locale: str = "en", name: str | None = "Ann") -> str:
    """Create an account holder the way the API does; return their public id."""
    with app.app_context():
        contact, _ = contacts.upsert(
            db.session, "user-1", "ann@example.com", locale, name, app.config["SETTINGS"], utcnow()
        )
        db.session.commit()
        return contact.public_id


def link(app: Flask, public_id: str, category: str) -> str:
    """The path of the preference link an email for this category carries."""
    with app.app_context():
        contact = contacts.by_public_id(db.session, public_id)
        assert contact is not None
        url = messages.preferences_url(app.config["SETTINGS"], tokens(), contact, category)
    return urlsplit(url).path


def events(app: Flask) -> list[tuple]:
    """The consent log: (category, granted, source, wording, ip), oldest first."""
    with app.app_context():
        rows = db.session.scalars(db.select(ConsentEvent).order_by(ConsentEvent.id)).all()
        found = [(e.category, e.granted, e.source, e.wording_version, e.ip) for e in rows]
        db.session.remove()
    return found


def state(app: Flask, public_id: str) -> dict[str, bool]:
    """What the contact receives now, suppression included."""
    with app.app_context():
        settings = app.config["SETTINGS"]
        contact = contacts.by_public_id(db.session, public_id)
        assert contact is not None
        found = {
            name: eligibility.blocked(db.session, contact, name, settings) is None
            for name in ("service", "promotional", "partner_offers")
        }
        db.session.remove()
    return found


def suppressions(app: Flask) -> list[str]:
    """Every suppression reason on file."""
    with app.app_context():
        found = list(db.session.scalars(db.select(Suppression.reason)))
        db.session.remove()
    return found


def csrf_token(client: FlaskClient, path: str) -> str:
    """Open the page like a person (sets the session cookie) and read the form's token."""
    page = client.get(path)
    assert page.status_code == 200
    found = CSRF_INPUT.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def checked(body: str) -> set[str]:
    """The categories whose switch is on in a rendered page."""
    return set(re.findall(r'id="cat-(\w+)"[^>]*\bchecked\b', body))


def test_opening_the_page_changes_nothing(app: Flask) -> None:
    public_id = new_contact(app)
    path = link(app, public_id, "promotional")
    client = app.test_client()
    before = state(app, public_id)

    page = client.get(path)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Cache-Control"] == "no-store"
    body = page.get_data(as_text=True)
    assert "<h1>Email preferences</h1>" in body and "Hi Ann," in body
    for title in ("Service email", "SpotCam news and offers", "Partner offers"):
        assert title in body
    assert "We never share your address with them" in body  # descriptions from the register
    assert re.search(r'id="cat-service" checked disabled', body)
    assert "Always on" in body
    assert checked(body) == {"service", "promotional"}  # the defaults: opt-out and opt-in
    assert 'name="csrf_token"' in body
    assert 'name="action" value="unsubscribe_all"' in body
    assert client.head(path).status_code == 200
    assert events(app) == [] and state(app, public_id) == before


@pytest.mark.parametrize("multipart", [False, True])
def test_one_click_unsubscribe(app: Flask, multipart: bool) -> None:
    public_id = new_contact(app)
    path = link(app, public_id, "promotional")
    client = app.test_client()

    def post() -> TestResponse:
        if multipart:
            return client.post(
                path, data={"List-Unsubscribe": "One-Click"}, content_type="multipart/form-data"
            )
        return client.post(path, data=ONE_CLICK, content_type=FORM)

    resp = post()
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    assert "Location" not in resp.headers
    assert resp.get_data(as_text=True) == "Unsubscribed from SpotCam news and offers.\n"
    assert events(app) == [("promotional", False, "one_click", None, "127.0.0.1")]
    assert state(app, public_id) == {"service": True, "promotional": False, "partner_offers": False}

    again = post()
    assert again.status_code == 200
    assert again.get_data(as_text=True).startswith("Already unsubscribed")
    assert len(events(app)) == 1


def test_one_click_cannot_stop_service_email(app: Flask) -> None:
    public_id = new_contact(app)
    resp = app.test_client().post(
        link(app, public_id, "service"), data=ONE_CLICK, content_type=FORM
    )
    assert resp.status_code == 400 and resp.mimetype == "text/plain"
    assert "can't be unsubscribed" in resp.get_data(as_text=True)
    assert events(app) == [] and state(app, public_id)["service"]


def test_page_form_needs_its_csrf_token(app: Flask) -> None:
    public_id = new_contact(app)
    path = link(app, public_id, "promotional")
    client = app.test_client()
    choice = {"category": "partner_offers", "action": "save"}

    assert client.post(path, data=choice).status_code == 400  # no cookie, no token
    csrf_token(client, path)  # a session exists now, but the post forgets the token
    missing = client.post(path, data=choice)
    assert missing.status_code == 400
    assert "This form expired, so nothing was changed" in missing.get_data(as_text=True)
    forged = client.post(path, data={**choice, "csrf_token": "forged"})
    assert forged.status_code == 400
    # A token from another browser's session doesn't fit this one.
    other = app.test_client()
    stolen = csrf_token(other, path)
    assert app.test_client().post(path, data={**choice, "csrf_token": stolen}).status_code == 400
    assert events(app) == []
    assert not state(app, public_id)["partner_offers"]


def test_a_tampered_session_cookie_is_refused(app: Flask) -> None:
    public_id = new_contact(app)
    path = link(app, public_id, "promotional")
    client = app.test_client()
    token = csrf_token(client, path)
    cookie = client.get_cookie("session")
    assert cookie is not None
    choice = {"category": "partner_offers", "action": "save", "csrf_token": token}
    # The same session cookie with a changed signature: the session is verified whenever a
    # cookie comes, so the form's token no longer fits it.
    other = app.test_client()
    other.set_cookie("session", forge(cookie.value))
    assert other.post(path, data=choice).status_code == 400
    assert not state(app, public_id)["partner_offers"]
    assert client.post(path, data=choice).status_code == 200
    assert state(app, public_id)["partner_offers"]


def test_page_form_saves_choices(app: Flask) -> None:
    public_id = new_contact(app)
    path = link(app, public_id, "promotional")
    client = app.test_client()
    form = {"csrf_token": csrf_token(client, path), "action": "save", "category": "partner_offers"}

    saved = client.post(path, data=form, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert saved.status_code == 200 and "Location" not in saved.headers
    body = saved.get_data(as_text=True)
    assert "Saved. Your choices apply from now on." in body
    assert checked(body) == {"service", "partner_offers"}
    proof = ("preference_page", contacts.PAGE_WORDING, "203.0.113.9")
    assert events(app) == [("promotional", False, *proof), ("partner_offers", True, *proof)]
    assert state(app, public_id) == {"service": True, "promotional": False, "partner_offers": True}

    # Saving the same choices again records nothing new; the page still shows them.
    assert client.post(path, data=form).status_code == 200
    assert len(events(app)) == 2
    assert checked(client.get(path).get_data(as_text=True)) == {"service", "partner_offers"}


def test_unsubscribe_all_then_ask_again(app: Flask) -> None:
    public_id = new_contact(app)
    path = link(app, public_id, "partner_offers")
    client = app.test_client()
    token = csrf_token(client, path)
    client.post(path, data={"csrf_token": token, "category": ["promotional", "partner_offers"]})

    done = client.post(path, data={"csrf_token": token, "action": "unsubscribe_all"})
    assert done.status_code == 200
    assert "You will get no more marketing email" in done.get_data(as_text=True)
    withdrawn = [(c, g, s) for c, g, s, _, _ in events(app)[-2:]]
    assert withdrawn == [
        ("promotional", False, "preference_page"),
        ("partner_offers", False, "preference_page"),
    ]
    assert suppressions(app) == ["unsubscribed_all"]
    assert state(app, public_id) == {"service": True, "promotional": False, "partner_offers": False}
    page = client.get(path).get_data(as_text=True)
    assert "You unsubscribed from all marketing email" in page
    assert checked(page) == {"service"}

    # A save that grants nothing keeps the block; an explicit grant lifts it.
    client.post(path, data={"csrf_token": token, "action": "save"})
    assert suppressions(app) == ["unsubscribed_all"]
    client.post(path, data={"csrf_token": token, "action": "save", "category": "promotional"})
    assert suppressions(app) == []
    assert state(app, public_id) == {"service": True, "promotional": True, "partner_offers": False}


def test_other_suppressions_survive_a_grant(app: Flask) -> None:
    public_id = new_contact(app)
    path = link(app, public_id, "promotional")
    with app.app_context():
        contact = contacts.by_public_id(db.session, public_id)
        assert contact is not None
        db.session.add(Suppression(email_hash=contact.email_hash, reason="complaint"))
        db.session.commit()
    client = app.test_client()
    form = {"csrf_token": csrf_token(client, path), "category": "promotional"}
    assert client.post(path, data=form).status_code == 200
    assert suppressions(app) == ["complaint"]


def test_bad_links_get_clear_pages(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    public_id = new_contact(app)
    good = link(app, public_id, "promotional").removeprefix("/p/")
    tampered = forge(good)
    with app.app_context():
        wrong_purpose = tokens().make("remove", f"{public_id}:promotional")
        unknown_category = tokens().make("preferences", f"{public_id}:telepathy")
        no_category = tokens().make("preferences", public_id)
    client = app.test_client()
    for token in (
        tampered,
        wrong_purpose,
        unknown_category,
        no_category,
        "not-a-token",
        "x" * 600,
    ):
        page = client.get(f"/p/{token}")
        assert page.status_code == 400, token
        assert "This link doesn" in page.get_data(as_text=True)
        assert client.post(f"/p/{token}", data={"action": "save"}).status_code == 400
        one_click = client.post(f"/p/{token}", data=ONE_CLICK, content_type=FORM)
        assert one_click.status_code == 400 and one_click.mimetype == "text/plain"

    days = app.config["SETTINGS"].preference_link_days
    long_ago = int(time.time()) - (days + 1) * 86400
    with monkeypatch.context() as m:
        m.setattr(TimestampSigner, "get_timestamp", lambda self: long_ago)
        expired = link(app, public_id, "promotional")
    page = client.get(expired)
    assert page.status_code == 410 and "This link has expired" in page.get_data(as_text=True)
    assert client.post(expired, data={"action": "save"}).status_code == 410
    one_click = client.post(expired, data=ONE_CLICK, content_type=FORM)
    assert one_click.status_code == 410 and one_click.mimetype == "text/plain"
    assert events(app) == []


def test_deleted_contact(app: Flask) -> None:
    public_id = new_contact(app)
    path = link(app, public_id, "promotional")
    with app.app_context():
        contact = contacts.by_public_id(db.session, public_id)
        assert contact is not None
        contacts.erase(db.session, contact)
        db.session.commit()
    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 410
    assert "Nothing is held any more" in page.get_data(as_text=True)
    assert client.head(path).status_code == 410
    assert client.post(path, data={"action": "save"}).status_code == 410
    one_click = client.post(path, data=ONE_CLICK, content_type=FORM)
    assert one_click.status_code == 200 and "Nothing is held" in one_click.get_data(as_text=True)


def test_hostile_name_is_escaped(app: Flask) -> None:
    public_id = new_contact(app, name='<script>alert("x")</script>')
    body = app.test_client().get(link(app, public_id, "promotional")).get_data(as_text=True)
    assert "<script>" not in body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body


def test_page_speaks_the_contacts_language(app: Flask) -> None:
    public_id = new_contact(app, locale="ru", name=None)
    path = link(app, public_id, "partner_offers")
    client = app.test_client()
    body = client.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="ru">' in body
    assert "Настройки рассылок" in body and "Предложения партнёров" in body
    assert "Всегда включены" in body and "Это письмо" in body
    form = {"csrf_token": csrf_token(client, path), "category": "partner_offers"}
    assert "Сохранено" in client.post(path, data=form).get_data(as_text=True)
