"""Configuration from the environment."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import pytest

from invites.accounts import contacts
from invites.accounts import mail as messages
from invites.core.config import ConfigError, Settings, from_env, parse_data_keys
from invites.core.db import db, utcnow
from invites.core.mail import tokens

from ..support.helpers import ROOT, clear_tables, make_app


def test_production_needs_secrets() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY is required"):
        from_env({})
    with pytest.raises(ConfigError, match="at least 32"):
        from_env({"SECRET_KEY": "short", "ADDRESS_HASH_KEY": "x"})
    with pytest.raises(ConfigError, match="ADDRESS_HASH_KEY"):
        from_env({"SECRET_KEY": "s" * 40})
    with pytest.raises(ConfigError, match="DATA_KEYS is required"):
        from_env({"SECRET_KEY": "s" * 40, "ADDRESS_HASH_KEY": "h" * 40})
    ok = from_env(
        {
            "SECRET_KEY": "s" * 40,
            "ADDRESS_HASH_KEY": "h" * 40,
            "DATA_KEYS": DATA_KEYS,
            "SECRET_KEY_FALLBACKS": "old1, old2,",
        }
    )
    assert ok.secret_key_fallbacks == ["old1", "old2"] and ok.env == "production"


#: Two well-formed data keys, the first one encrypting.
DATA_KEYS = ", ".join(
    f"{name}:{base64.b64encode(name[0].encode() * 32).decode()}" for name in ("new", "old")
)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("k1", "key 1 must be written id:base64"),
        ("k.1:" + base64.b64encode(b"k" * 32).decode(), "key 1 must be written id:base64"),
        ("k1:not base64!", "key 'k1' is not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "key 'k1' must be 32 bytes, got 5"),
        (DATA_KEYS + ",new:" + base64.b64encode(b"x" * 32).decode(), "'new' is used twice"),
        (" , ", "must name at least one key"),
    ],
)
def test_data_keys_are_checked_at_start_up(raw: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"DATA_KEYS: .*{says}|DATA_KEYS {says}"):
        from_env({"SPOTCAM_ENV": "test", "DATA_KEYS": raw})
    kept = from_env({"SPOTCAM_ENV": "test", "DATA_KEYS": DATA_KEYS}).data_keys
    assert [name for name, _ in parse_data_keys("DATA_KEYS", kept)] == ["new", "old"]


def test_dev_defaults_and_parsing() -> None:
    s = from_env(
        {
            "SPOTCAM_ENV": "development",
            "INVITES_PER_INVITER_DAY": "7",
            "PUBLIC_BASE_URL": "https://mail.example/",
            "EMAIL_CHECK_DELIVERABILITY": "yes",
        }
    )
    assert s.secret_key and s.is_dev and s.invites_per_inviter_day == 7
    assert s.public_base_url == "https://mail.example" and s.check_deliverability is True
    assert s.redis_url is None and s.database_url is None and s.smtp_url is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("INVITES_PER_INVITER_DAY", "many", "whole number"),
        ("INVITES_PER_INVITER_DAY", "0", "at least 1"),
        ("EMAIL_CHECK_DELIVERABILITY", "maybe", "true or false"),
        ("SPOTCAM_ENV", "staging", "SPOTCAM_ENV"),
    ],
)
def test_bad_values_are_explained(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_env({"SPOTCAM_ENV": "test", name: value})


def test_postgres_urls_use_psycopg3() -> None:
    for given in ("postgresql://u@db:5432/x", "postgres://u@db:5432/x"):
        s = from_env({"SPOTCAM_ENV": "test", "DATABASE_URL": given})
        assert s.database_url == "postgresql+psycopg://u@db:5432/x"
    sqlite = from_env({"SPOTCAM_ENV": "test", "DATABASE_URL": "sqlite:////tmp/x.db"})
    assert sqlite.database_url == "sqlite:////tmp/x.db"


def test_the_readme_table_is_the_register() -> None:

    from invites.core.config import config_table

    readme = (ROOT / "README.md").read_text()
    assert config_table() in readme


def test_development_links_follow_the_port_unless_set() -> None:
    moved = from_env({"SPOTCAM_ENV": "development", "PORT": "8000"})
    assert moved.public_base_url == "http://127.0.0.1:8000"
    pinned = from_env(
        {"SPOTCAM_ENV": "development", "PORT": "8000", "PUBLIC_BASE_URL": "https://m.example"}
    )
    assert pinned.public_base_url == "https://m.example"
    production = from_env(
        {"SECRET_KEY": "s" * 40, "ADDRESS_HASH_KEY": "h", "DATA_KEYS": DATA_KEYS, "PORT": "8000"}
    )
    assert production.public_base_url == "http://127.0.0.1:5000"


def test_the_error_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match="SPOTCAM_ENV=development"):
        from_env({})


@pytest.mark.parametrize("env", ["production", "development", "test"])
def test_the_session_cookie_is_secure_httponly_and_lax(settings: Settings, env: str) -> None:
    # The preference page puts its CSRF token in the session; the console's login will follow.
    app = make_app(settings, env=env)
    clear_tables(app)
    with app.app_context():
        contact, _ = contacts.upsert(
            db.session, "u-1", "ann@example.com", "en", None, app.config["SETTINGS"], utcnow()
        )
        db.session.commit()
        path = urlsplit(
            messages.preferences_url(app.config["SETTINGS"], tokens(), contact, "promotional")
        ).path
    page = app.test_client().get(path)
    assert page.status_code == 200
    [cookie] = page.headers.getlist("Set-Cookie")
    attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert attributes["samesite"].strip() == "SameSite=Lax"
    # Development runs on http://127.0.0.1, where a Secure cookie would never come back.
    assert ("secure" in attributes) is (env == "production")
    clear_tables(app)
