"""Configuration from the environment, parsed and typed in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


class ConfigError(ValueError):
    """A configuration value is missing or malformed."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _database_url(url: str | None) -> str | None:
    # psycopg 3 is the driver we ship; say so explicitly, whatever SQLAlchemy's default is.
    for prefix in ("postgresql://", "postgres://"):
        if url and url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _list(env: Mapping[str, str], name: str) -> list[str]:
    return [part.strip() for part in env.get(name, "").split(",") if part.strip()]


@dataclass(frozen=True)
class Settings:
    """Every setting the service reads, with its default."""

    env: str = "production"
    secret_key: str = ""
    secret_key_fallbacks: list[str] = field(default_factory=list)
    address_hash_key: str = ""
    database_url: str | None = None
    redis_url: str | None = None
    smtp_url: str | None = None
    smtp_timeout: int = 30
    outbox_dir: str | None = None
    public_base_url: str = "http://127.0.0.1:5000"
    app_signup_url: str = "https://spotcam.example/signup"
    mail_from_service: str = "SpotCam <no-reply@spotcam.example>"
    mail_from_marketing: str = "SpotCam News <news@spotcam.example>"
    invitation_window_days: int = 30
    invites_per_inviter_day: int = 20
    invites_per_inviter_month: int = 100
    invite_address_window_days: int = 180
    invitation_synchronous_commit: bool = False
    removal_link_days: int = 730
    check_deliverability: bool = False
    max_send_attempts: int = 5
    retry_base_seconds: int = 30
    reconcile_interval_seconds: int = 60
    reconcile_grace_seconds: int = 30
    relay_interval_ms: int = 100
    max_body_bytes: int = 16 * 1024
    promotional_default: bool = True
    preference_link_days: int = 400
    soft_bounce_limit: int = 3
    soft_bounce_window_days: int = 7
    privacy_policy_version: str = "2026-01"
    api_key_cache_seconds: int = 10

    @property
    def is_dev(self) -> bool:
        """Whether this is a development or test setting (embedded defaults allowed)."""
        return self.env in {"development", "test"}

    def as_flask_config(self) -> dict[str, Any]:
        """Return the settings as upper-case Flask config keys, and the session cookie's."""
        config = {f.name.upper(): getattr(self, f.name) for f in fields(self)}
        # The session cookie holds the preference page's CSRF token now and the console's
        # login soon: never sent over plain HTTP outside development (which runs on
        # http://127.0.0.1), never readable by scripts, and not sent on cross-site POSTs.
        config.update(
            SESSION_COOKIE_SECURE=not self.is_dev,
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SAMESITE="Lax",
        )
        return config


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from environment variables."""
    env = os.environ if env is None else env
    mode = env.get("SPOTCAM_ENV", "production").strip() or "production"
    if mode not in {"production", "development", "test"}:
        raise ConfigError(f"SPOTCAM_ENV must be production, development or test, got {mode!r}")
    secret = env.get("SECRET_KEY", "")
    if not secret and mode != "production":
        # Dev and test get a fixed key so links survive restarts; production must set one.
        secret = "dev-only-secret-key-do-not-use-in-production"  # noqa: S105
    if not secret:
        raise ConfigError("SECRET_KEY is required outside development and test")
    if mode == "production" and len(secret) < 32:
        raise ConfigError("SECRET_KEY must be at least 32 characters")
    hash_key = env.get("ADDRESS_HASH_KEY", "")
    if not hash_key and mode != "production":
        hash_key = "dev-only-address-hash-key"  # noqa: S105
    if not hash_key:
        # The suppression list is only as durable as this key: it must never rotate with
        # SECRET_KEY, so production sets it on its own.
        raise ConfigError("ADDRESS_HASH_KEY is required outside development and test")
    return Settings(
        env=mode,
        address_hash_key=hash_key,
        secret_key=secret,
        secret_key_fallbacks=_list(env, "SECRET_KEY_FALLBACKS"),
        database_url=_database_url(env.get("DATABASE_URL") or None),
        redis_url=env.get("REDIS_URL") or None,
        smtp_url=env.get("SMTP_URL") or None,
        smtp_timeout=_int(env, "SMTP_TIMEOUT", 30, 1),
        outbox_dir=env.get("OUTBOX_DIR") or None,
        public_base_url=(env.get("PUBLIC_BASE_URL") or Settings.public_base_url).rstrip("/"),
        app_signup_url=env.get("APP_SIGNUP_URL") or Settings.app_signup_url,
        mail_from_service=env.get("MAIL_FROM_SERVICE") or Settings.mail_from_service,
        mail_from_marketing=env.get("MAIL_FROM_MARKETING") or Settings.mail_from_marketing,
        invitation_window_days=_int(env, "INVITATION_WINDOW_DAYS", 30, 1),
        invites_per_inviter_day=_int(env, "INVITES_PER_INVITER_DAY", 20, 1),
        invites_per_inviter_month=_int(env, "INVITES_PER_INVITER_MONTH", 100, 1),
        invite_address_window_days=_int(env, "INVITE_ADDRESS_WINDOW_DAYS", 180, 1),
        invitation_synchronous_commit=_bool(env, "INVITATION_SYNCHRONOUS_COMMIT", False),
        removal_link_days=_int(env, "REMOVAL_LINK_DAYS", 730, 30),
        check_deliverability=_bool(env, "EMAIL_CHECK_DELIVERABILITY", False),
        max_send_attempts=_int(env, "MAX_SEND_ATTEMPTS", 5, 1),
        retry_base_seconds=_int(env, "RETRY_BASE_SECONDS", 30, 0),
        reconcile_interval_seconds=_int(env, "RECONCILE_INTERVAL_SECONDS", 60, 1),
        reconcile_grace_seconds=_int(env, "RECONCILE_GRACE_SECONDS", 30, 0),
        relay_interval_ms=_int(env, "RELAY_INTERVAL_MS", 100, 10),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 16 * 1024, 1024),
        promotional_default=_bool(env, "PROMOTIONAL_DEFAULT", True),
        preference_link_days=_int(env, "PREFERENCE_LINK_DAYS", 400, 366),
        soft_bounce_limit=_int(env, "SOFT_BOUNCE_LIMIT", 3, 1),
        soft_bounce_window_days=_int(env, "SOFT_BOUNCE_WINDOW_DAYS", 7, 1),
        api_key_cache_seconds=_int(env, "API_KEY_CACHE_SECONDS", 10, 0),
        privacy_policy_version=env.get("PRIVACY_POLICY_VERSION") or Settings.privacy_policy_version,
    )
