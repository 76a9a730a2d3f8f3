"""Link tokens: per purpose, opaque, rotatable; bad ones get a clear page, never a 500."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from itsdangerous.timed import TimestampSigner

from invites.core.config import Settings
from invites.core.db import db
from invites.core.mail import tokens
from invites.core.tokens import TokenExpired, TokenInvalid, Tokens
from invites.invitations.models import Invitation

from ..support.helpers import auth, forge, invite, make_app, new_key

# When the tests' links are signed; itsdangerous reads the clock with time.time(), which
# time_machine moves.
SIGNED_AT = datetime(2031, 5, 4, 12, 0, tzinfo=UTC)


def test_purposes_do_not_mix() -> None:
    t = Tokens("k1")
    accept = t.make("accept", "abc")
    assert t.load("accept", accept, 60) == "abc"
    with pytest.raises(TokenInvalid):
        t.load("remove", accept, 60)


@pytest.mark.parametrize("purpose", ["accept", "remove", "preferences"])
def test_tokens_are_itsdangerous_own_byte_for_byte_and_survive_rotation(purpose: str) -> None:
    # The service keeps serializers, signers and derived keys between links: what it makes
    # must be exactly what a fresh itsdangerous serializer makes, for every key set.
    from itsdangerous import URLSafeTimedSerializer

    from invites.core.tokens import SALTS

    with time_machine.travel(SIGNED_AT, tick=False):
        for _ in range(3):  # the kept objects, used again
            old = Tokens("old-key").make(purpose, "abc:promotional:7")
            fresh = URLSafeTimedSerializer(["old-key"], salt=SALTS[purpose]).dumps(
                "abc:promotional:7"
            )
            assert old == fresh
        rotated = Tokens("new-key", ("old-key",))
        assert rotated.make(purpose, "x") == URLSafeTimedSerializer(
            ["old-key", "new-key"], salt=SALTS[purpose]
        ).dumps("x")
        # The old key's token still opens after the rotation; one signed by neither does not.
        assert rotated.load(purpose, old, 60) == "abc:promotional:7"
        assert Tokens("other-key").make(purpose, "x") != rotated.make(purpose, "x")
        with pytest.raises(TokenInvalid):
            Tokens("other-key").load(purpose, old, 60)


def test_payload_is_opaque(app: Flask) -> None:
    key = new_key(app, ["invitations"])
    invite(app.test_client(), key, "secret.person@example.com")
    with app.app_context():
        public_id = db.session.scalars(db.select(Invitation.public_id)).one()
        token = tokens().make("remove", public_id)
    payload = token.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert json.loads(decoded) == public_id
    assert b"secret" not in decoded and b"@" not in decoded


def test_rotation_keeps_old_links_working() -> None:
    old = Tokens("old-key")
    token = old.make("remove", "inv-1")
    rotated = Tokens("new-key", fallbacks=("old-key",))
    assert rotated.load("remove", token, 60) == "inv-1"
    assert rotated.load("remove", rotated.make("remove", "inv-2"), 60) == "inv-2"
    with pytest.raises(TokenInvalid):
        Tokens("new-key").load("remove", token, 60)


def test_expiry() -> None:
    t = Tokens("k")
    with time_machine.travel(SIGNED_AT, tick=False) as clock:
        token = t.make("accept", "x")
        clock.shift(60)
        assert t.load("accept", token, 60) == "x"  # as old as it may be: still good
        clock.shift(1)
        with pytest.raises(TokenExpired):
            t.load("accept", token, 60)


def _tokens(app: Flask) -> tuple[str, str]:
    key = new_key(app, ["invitations"])
    invite(app.test_client(), key)
    with app.app_context():
        public_id = db.session.scalars(db.select(Invitation.public_id)).one()
        return tokens().make("accept", public_id), tokens().make("remove", public_id)


def test_bad_tokens_get_a_clear_page(app: Flask) -> None:
    client = app.test_client()
    accept, remove = _tokens(app)
    tampered = forge(remove)
    cases = {
        f"/r/{tampered}": 400,
        f"/r/{accept}": 400,  # wrong purpose
        f"/i/{remove}": 400,
        "/r/not-a-token": 400,
        "/r/" + "x" * 600: 400,
        "/i/%00%0d%0a": 400,
    }
    for path, status in cases.items():
        resp = client.get(path)
        assert resp.status_code == status, path
        assert "This link doesn" in resp.get_data(as_text=True)
    for path in (f"/r/{tampered}", f"/r/{accept}"):
        resp = client.post(path, data={"confirm": "remove"})
        assert resp.status_code == 400 and "This link doesn" in resp.get_data(as_text=True)
    one_click = client.post(f"/r/{tampered}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 400
    with app.app_context():
        assert db.session.scalars(db.select(Invitation.status)).one() == "pending"


def test_expired_links(settings: Settings) -> None:
    app = make_app(settings)
    client = app.test_client()
    window = timedelta(days=settings.invitation_window_days)
    removal = timedelta(days=settings.removal_link_days)
    assert removal > window
    with time_machine.travel(SIGNED_AT, tick=False) as clock:
        accept, remove = _tokens(app)
        key = new_key(app, ["invitations"])
        clock.move_to(SIGNED_AT + window)
        assert client.get(f"/i/{accept}").status_code == 200  # its last second
        clock.move_to(SIGNED_AT + window + timedelta(seconds=1))
        page = client.get(f"/i/{accept}")
        assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
        resp = client.post(
            "/api/v1/invitations/accept", json={"token": accept, "user_id": "u"}, headers=auth(key)
        )
        assert resp.status_code == 410 and resp.mimetype == "application/problem+json"
        # The removal link outlives the invitation, then expires too.
        assert client.get(f"/r/{remove}").status_code == 200
        clock.move_to(SIGNED_AT + removal + timedelta(seconds=1))
        page = client.get(f"/r/{remove}")
        assert page.status_code == 410 and "expired" in page.get_data(as_text=True)


def test_bad_accept_tokens_on_the_api(app: Flask) -> None:
    accept, remove = _tokens(app)
    key = new_key(app, ["invitations"])
    client = app.test_client()
    for token in (remove, accept + "x", "garbage"):
        resp = client.post(
            "/api/v1/invitations/accept", json={"token": token, "user_id": "u"}, headers=auth(key)
        )
        assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "token"


def test_links_survive_key_rotation(settings: Settings) -> None:
    app = make_app(settings, secret_key="old-secret")
    _accept, remove = _tokens(app)
    rotated = make_app(settings, secret_key="brand-new-secret", secret_key_fallbacks=["old-secret"])
    client = rotated.test_client()
    assert client.get(f"/r/{remove}").status_code == 200
    assert client.post(f"/r/{remove}", data={"confirm": "remove"}).status_code == 303


def test_an_expired_removal_link_says_expired_however_it_is_used(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The page said "expired" (410); the RFC 8058 one-click POST said "not valid" (400).
    key = new_key(app, ["invitations"])
    invite(app.test_client(), key, "late@example.com")
    days = app.config["SETTINGS"].removal_link_days
    long_ago = int(time.time()) - (days + 1) * 86400
    with app.app_context():
        public_id = db.session.scalars(db.select(Invitation.public_id)).one()
        with monkeypatch.context() as m:
            # Signed as if the email had gone out a day more than the link lives.
            m.setattr(TimestampSigner, "get_timestamp", lambda self: long_ago)
            expired = "/r/" + tokens().make("remove", public_id)
    client = app.test_client()
    page = client.get(expired)
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    button = client.post(expired, data={"confirm": "remove"})
    assert button.status_code == 410
    one_click = client.post(
        expired, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert one_click.status_code == 410 and one_click.mimetype == "text/plain"
    assert "expired" in one_click.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(db.select(Invitation.status)).one() == "pending"
