"""Register entries (`invites.privacy.register`) for friend invitations: sending one,
linking it to the account it led to, and counting them.

Column lists are exact: a new column stays out of every purpose until someone classifies it
(here, in a sibling module, or in register.NOT_PERSONAL), and the register test fails until then.
"""

from __future__ import annotations

from datetime import timedelta

from invites.privacy.register import Holding, Purpose, Retention, Text, text

HOURLY = 3600
_EXPIRY_JOB = "invites.invitations.jobs.expire_invitations"


def _expiry(name: str, what: Text, field: str) -> Retention:
    """A rule the hourly invitation expiry enforces, its period in days in setting `field`."""
    return Retention.days_in(name, what, field, _EXPIRY_JOB, HOURLY)


IDEMPOTENCY = Retention(
    "idempotency_answers",
    text(
        "Answers to API requests repeated with the same Idempotency-Key (a keyed hash of the "
        "request, never the address): {hours} hours.",
        "Ответы на повторные запросы API с тем же Idempotency-Key (хеш запроса с ключом, "
        "не адрес): {hours} ч.",
    ),
    period=lambda s: timedelta(hours=24),
    job="invites.privacy.jobs.forget_idempotency_answers",
    every_seconds=HOURLY,
)
IDEMPOTENCY_DATA = Holding(
    "idempotency_records",
    ("id", "api_key_id", "key", "request_hash", "status_code", "body", "created_at"),
    text(
        "the answer to an API request made with an Idempotency-Key, and a keyed hash of it",
        "ответ на запрос API с Idempotency-Key и хеш запроса с ключом",
    ),
)
INVITATION = Purpose(
    "invitation",
    text("Invitations", "Приглашения"),
    text(
        "Sending the one email a member asked us to send to a friend, and nothing else: no "
        "reminders, no marketing.",
        "Отправка одного письма, которое участник попросил отправить другу, и ничего больше: "
        "без напоминаний и рекламы.",
    ),
    (
        Holding(
            "invitations",
            ("id", "public_id", "email", "email_hash", "inviter_id", "inviter_name", "note")
            + ("locale", "status", "created_at", "sent_at", "closed_at"),
            text(
                "the invitee's address, who invited them, the inviter's name and note, and the "
                "invitation's state",
                "адрес приглашённого, кто пригласил, имя и сообщение пригласившего и состояние "
                "приглашения",
            ),
        ),
        Holding(
            "address_throttle",
            ("email_hash", "invited_at"),
            text(
                "when an address (as a keyed hash) was last invited",
                "когда адрес (в виде хеша с ключом) приглашали в последний раз",
            ),
        ),
        Holding(
            "inviter_daily_counts",
            ("inviter_id", "day", "requested"),
            text(
                "invitations asked for per member and day (limits)",
                "запросы приглашений по участнику и дню (лимиты)",
            ),
        ),
        Holding(
            "outbound_messages",
            ("id", "public_id", "kind", "invitation_id", "locale", "status", "attempts")
            + ("next_attempt_at", "claimed_at", "last_error", "claim_token", "message_id")
            + ("created_at", "sent_at"),
            text(
                "the invitation email's delivery state (error texts without addresses)",
                "состояние доставки письма (тексты ошибок без адресов)",
            ),
        ),
        IDEMPOTENCY_DATA,
    ),
    ("invitees", "inviters"),
    text(
        "legitimate interest (GDPR art. 6(1)(f)) in passing on a member's own invitation, "
        "once, with a notice (art. 14) and a removal link in the email",
        "законный интерес (GDPR ст. 6(1)(f)) в передаче личного приглашения участника — "
        "один раз, с уведомлением (ст. 14) и ссылкой для удаления в письме",
    ),
    (
        _expiry(
            "invitation_address",
            text(
                "The address, the inviter's name and the note: until the invitation is "
                "accepted or removed or its email bounces, and at most {days} days; then "
                "only counters remain.",
                "Адрес, имя пригласившего и сообщение: пока приглашение не принято, не "
                "удалено и письмо не вернулось, но не дольше {days} дн.; затем остаются "
                "только счётчики.",
            ),
            "invitation_window_days",
        ),
        _expiry(
            "removal_hash",
            text(
                "The keyed hash of the address stays on the closed invitation while its "
                "removal link works ({days} days), so the link can still block the address.",
                "Хеш адреса с ключом остаётся в закрытом приглашении, пока работает ссылка "
                "для удаления ({days} дн.), чтобы она могла заблокировать адрес.",
            ),
            "removal_link_days",
        ),
        _expiry(
            "address_throttle",
            text(
                "When an address was last invited: {days} days, so that it is invited at "
                "most once in that time, by anyone.",
                "Когда адрес приглашали в последний раз: {days} дн., чтобы за это время его "
                "пригласили не больше одного раза.",
            ),
            "invite_address_window_days",
        ),
        IDEMPOTENCY,
    ),
    ("smtp_relay", "hosting"),
)

REGISTRATION = Purpose(
    "registration",
    text("Registration", "Регистрация"),
    text(
        "Linking an accepted invitation to the account the friend made.",
        "Связь принятого приглашения с аккаунтом, который создал друг.",
    ),
    (
        Holding(
            "invitations",
            ("accepted_user_id", "inviter_id", "status", "closed_at"),
            text(
                "which account accepted which member's invitation (no address)",
                "какой аккаунт принял приглашение какого участника (без адреса)",
            ),
        ),
    ),
    ("account_holders", "inviters"),
    text("contract (GDPR art. 6(1)(b))", "договор (GDPR ст. 6(1)(b))"),
    (
        Retention(
            "registration",
            text(
                "Part of the account: as long as it exists.", "Часть аккаунта: пока он существует."
            ),
        ),
    ),
    ("hosting",),
)

STATISTICS = Purpose(
    "invitation_statistics",
    text("Invitation statistics", "Статистика приглашений"),
    text(
        "Counting how invitations fare, in aggregate.",
        "Подсчёт результатов приглашений в целом.",
    ),
    (
        Holding(
            "invitation_daily_stats",
            ("day", "sent", "accepted", "removed", "expired", "bounced", "suppressed", "unknown"),
            text(
                "counts per day: no address, no inviter–invitee pair",
                "счётчики по дням: без адресов и без пар «пригласивший — приглашённый»",
            ),
        ),
        Holding(
            "inviter_daily_counts",
            ("inviter_id", "day", "sent", "accepted"),
            text(
                "per member and day: invitations sent and accepted (no invitee)",
                "по участнику и дню: отправлено и принято приглашений (без приглашённых)",
            ),
        ),
    ),
    ("inviters",),
    text(
        "legitimate interest (GDPR art. 6(1)(f)) in knowing, in aggregate, how the feature works",
        "законный интерес (GDPR ст. 6(1)(f)) — знать в целом, как работает функция",
    ),
    (
        Retention(
            "statistics",
            text(
                "Kept: counts only, with no address.",
                "Хранится: только счётчики, без адресов.",
            ),
        ),
    ),
    ("hosting",),
)
