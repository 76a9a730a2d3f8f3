"""The processing register: every purpose the service holds personal data for, in code.

Each purpose names the data it holds (tables and columns), the people it concerns, its legal
basis, how long each part is kept and by which job it is erased, and who receives it. The
retention jobs read their periods here (which come from the settings where a setting exists);
the scheduler runs the jobs named here; `/privacy/processing` shows it to people and
`/api/v1/privacy/processing` returns it as the GDPR art. 30 record. A test fails when a
column of any table is neither named by a purpose nor listed in NOT_PERSONAL.

The entries are in `invites.privacy.purposes_*`; this module holds their shape and lookups.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import timedelta

from invites.core.config import Settings

#: Words per locale (every locale of invites.core.locale.LOCALES).
Text = dict[str, str]


def text(en: str, ru: str) -> Text:
    """The same words in English and Russian."""
    return {"en": en, "ru": ru}


@dataclass(frozen=True)
class Holding:
    """Some of a table's columns, and what they are in plain words."""

    table: str
    columns: tuple[str, ...]
    what: Text


@dataclass(frozen=True)
class Retention:
    """How long one part of a purpose's data is kept, and what erases it.

    `what` may use {days} and {hours}: the period under the running settings.
    """

    name: str
    what: Text
    #: The period, read from the settings (None: kept until an event, or kept).
    period: Callable[[Settings], timedelta] | None = None
    #: The environment variable the period comes from, if any.
    setting: str | None = None
    #: The job that erases what is past the period, and how often the scheduler runs it.
    job: str | None = None
    every_seconds: int | None = None

    @classmethod
    def days_in(
        cls,
        name: str,
        what: Text,
        field: str,
        job: str | None = None,
        every_seconds: int | None = None,
    ) -> Retention:
        """A rule whose period is the number of days in setting `field` (a Settings name)."""
        env = next(f.metadata["env"] for f in fields(Settings) if f.name == field)
        return cls(
            name,
            what,
            period=lambda s: timedelta(days=getattr(s, field)),
            setting=env,
            job=job,
            every_seconds=every_seconds,
        )

    def describe(self, settings: Settings, locale: str) -> str:
        """The rule in words, with the period under these settings."""
        if self.period is None:
            return self.what[locale]
        span = self.period(settings)
        return self.what[locale].format(days=span.days, hours=int(span.total_seconds() // 3600))


@dataclass(frozen=True)
class Recipient:
    """Who receives personal data from the service, and in which role."""

    name: str
    role: str
    title: Text
    what: Text


@dataclass(frozen=True)
class Purpose:
    """One purpose of processing."""

    name: str
    title: Text
    description: Text
    data: tuple[Holding, ...]
    #: Keys of PEOPLE.
    people: tuple[str, ...]
    legal_basis: Text
    retention: tuple[Retention, ...]
    #: Keys of RECIPIENTS.
    recipients: tuple[str, ...]
    #: Anything else a person should know (e.g. that partners receive nothing).
    note: Text | None = None


#: Whom the data is about.
PEOPLE: dict[str, Text] = {
    "invitees": text(
        "People a SpotCam member invited by email (they have no account)",
        "Люди, которых участник SpotCam пригласил по email (у них нет аккаунта)",
    ),
    "inviters": text(
        "SpotCam members who invite friends",
        "Участники SpotCam, которые приглашают друзей",
    ),
    "account_holders": text("People with a SpotCam account", "Люди с аккаунтом SpotCam"),
    "objectors": text(
        "People who asked not to be contacted, and addresses that bounced or complained",
        "Люди, попросившие не писать им, и адреса, письма на которые вернулись или вызвали жалобу",
    ),
    "requesters": text(
        "People who asked about their data, with or without an account",
        "Люди, запросившие сведения о своих данных, с аккаунтом или без",
    ),
    "staff": text("SpotCam staff who use the console", "Сотрудники SpotCam, работающие в консоли"),
}

#: Who receives personal data. Partners are not here: they receive nothing.
RECIPIENTS: dict[str, Recipient] = {
    r.name: r
    for r in (
        Recipient(
            "smtp_relay",
            "processor",
            text("The SMTP relay", "Почтовый сервер-ретранслятор (SMTP)"),
            text(
                "The mail service SpotCam sends email through, as SpotCam's processor: it "
                "receives each message with its recipient's address, to deliver it.",
                "Почтовый сервис, через который SpotCam отправляет письма, как обработчик "
                "SpotCam: он получает каждое письмо с адресом получателя, чтобы доставить его.",
            ),
        ),
        Recipient(
            "hosting",
            "processor",
            text("The hosting provider", "Хостинг-провайдер"),
            text(
                "The provider whose servers run the service and its database, as SpotCam's "
                "processor.",
                "Провайдер, на серверах которого работают сервис и его база данных, как "
                "обработчик SpotCam.",
            ),
        ),
    )
}

#: What the service does to keep the data safe (art. 30(1)(g)).
SECURITY = (
    text(
        "Addresses that must not be contacted are kept only as a keyed hash (HMAC-SHA256).",
        "Адреса, на которые нельзя писать, хранятся только как хеш с ключом (HMAC-SHA256).",
    ),
    text(
        "Every stored email address is encrypted (AES-256-GCM) under keys kept outside the "
        "database, bound to its row, and found by its keyed hash: a copy of the database "
        "alone reveals no address.",
        "Каждый хранимый адрес email зашифрован (AES-256-GCM) ключами, которые хранятся вне "
        "базы данных, и привязан к своей строке; поиск идёт по хешу с ключом: копия базы "
        "данных сама по себе не раскрывает ни одного адреса.",
    ),
    text(
        "Links in email carry signed random ids, never an address.",
        "Ссылки в письмах содержат подписанные случайные идентификаторы, а не адреса.",
    ),
    text(
        "Addresses are removed from log lines, error texts and job records.",
        "Адреса удаляются из журналов, текстов ошибок и записей о задачах.",
    ),
    text(
        "Staff sign in with argon2id-hashed passwords and roles; every staff action is in an "
        "append-only audit log.",
        "Сотрудники входят по паролям (хеш argon2id) и с ролями; каждое их действие "
        "записывается в журнал аудита, который нельзя изменить.",
    ),
)

#: Columns that hold no personal data, per table, and why (the register test reads this).
NOT_PERSONAL: dict[str, tuple[str, tuple[str, ...]]] = {
    "api_keys": (
        "keys the app backend calls the API with: a name, a prefix and a SHA-256",
        ("id", "name", "prefix", "key_hash", "scopes", "created_at", "revoked_at"),
    ),
    "campaigns": (
        "what staff set up for a campaign (who set it up is staff audit)",
        ("id", "name", "category", "partner_name", "locale", "sender", "status", "version")
        + ("approved_version", "anchor", "scheduled_at", "local_date", "local_time")
        + ("default_zone", "rate_per_second", "paused_reason", "audience_at_start")
        + ("planning_done", "created_at", "updated_at", "started_at", "finished_at")
        + ("archived_at", "segment", "policy_version_id"),
    ),
    "saved_segments": (
        "named conditions on attributes that staff saved (who saved them is staff audit)",
        ("id", "name", "definition", "created_by", "created_at", "updated_at"),
    ),
    "campaign_contents": (
        "what staff wrote, per language",
        ("campaign_id", "locale", "subject", "preheader", "body", "body_format", "text")
        + ("compiled",),
    ),
    "campaign_counts": (
        "aggregate counts per campaign",
        ("campaign_id", "name", "count"),
    ),
    "campaign_progress": (
        "per-status counts of a campaign's delivery records, in shards (no contact)",
        ("campaign_id", "shard", "queued", "sending", "sent", "failed", "unknown")
        + ("skipped", "suppressed"),
    ),
    "campaign_batches": (
        "how a campaign is cut into jobs (the contact ids bounding a batch are delivery records)",
        ("id", "campaign_id", "planned", "due_at", "status", "lease_token", "leased_until")
        + ("enqueued_at", "created_at", "finished_at"),
    ),
    "outbox_wakeups": ("an outbox row's id, until its job is queued", ("message_id",)),
    "policy_versions": (
        "the published policy versions (who wrote them is staff audit)",
        ("id", "label", "effective_on", "material", "changes_partner_sharing", "notice_on")
        + ("placeholder", "updated_at"),
    ),
    "policy_texts": (
        "the policy's text and summaries",
        ("version_id", "locale", "body", "summary"),
    ),
}


def purposes() -> tuple[Purpose, ...]:
    """Every purpose, in the order people read them."""
    # The entries import this module's types, so they are read on first use.
    from invites.privacy import purposes_accounts as accounts
    from invites.privacy import purposes_invitations as invitations
    from invites.privacy import purposes_records as records

    return (
        invitations.INVITATION,
        invitations.REGISTRATION,
        invitations.STATISTICS,
        accounts.SERVICE,
        accounts.PROMOTIONAL,
        accounts.PARTNER,
        accounts.SUPPRESSION,
        accounts.DATA_REQUESTS,
        records.STAFF_AUDIT,
        records.CAMPAIGN_DELIVERY,
    )


def retention_rules() -> Iterator[Retention]:
    """Every retention rule of every purpose (a rule two purposes share, once)."""
    seen: set[str] = set()
    for purpose in purposes():
        for rule in purpose.retention:
            if rule.name not in seen:
                seen.add(rule.name)
                yield rule


def rule(name: str) -> Retention:
    """The retention rule with this name."""
    for found in retention_rules():
        if found.name == name:
            return found
    raise KeyError(f"no retention rule {name!r} in the processing register")


def period(name: str, settings: Settings) -> timedelta:
    """How long the data of retention rule `name` is kept under these settings."""
    found = rule(name)
    if found.period is None:
        raise KeyError(f"retention rule {name!r} has no period")
    return found.period(settings)


def jobs() -> dict[str, int]:
    """The erasing jobs the scheduler runs: dotted path → seconds between runs."""
    return {
        r.job: r.every_seconds
        for r in retention_rules()
        if r.job is not None and r.every_seconds is not None
    }


def named_columns() -> set[tuple[str, str]]:
    """Every (table, column) some purpose names."""
    return {
        (holding.table, column)
        for purpose in purposes()
        for holding in purpose.data
        for column in holding.columns
    }
