"""Register entries (`invites.privacy.register`) for account holders and addresses: service
email, SpotCam's and partners' offers, the do-not-contact list, requests about one's data.

Column lists are exact: a new column stays out of every purpose until someone classifies it.
"""

from __future__ import annotations

from datetime import timedelta

from invites.privacy.purposes_invitations import HOURLY, IDEMPOTENCY, IDEMPOTENCY_DATA
from invites.privacy.register import Holding, Purpose, Retention, text

CONTACT_LIFETIME = Retention(
    "contact",
    text(
        "The contact record and its messages' content: as long as the account exists; erased "
        "with it when the app deletes the account.",
        "Запись о контакте и содержимое писем: пока существует аккаунт; удаляются вместе с "
        "ним, когда приложение удаляет аккаунт.",
    ),
)
CONSENT_LOG = Retention(
    "consent_log",
    text(
        "Each choice: until changed. The consent log (every grant and withdrawal, with the "
        "policy version in force): as long as the account exists, as proof of what was chosen.",
        "Каждый выбор — до его изменения. Журнал согласий (каждое согласие и отказ с "
        "действующей версией политики) — пока существует аккаунт, как подтверждение выбора.",
    ),
)
_PREFERENCES = Holding(
    "preferences",
    ("contact_id", "category", "granted", "updated_at", "policy_version"),
    text(
        "the current choice per category, and the policy version it was made under",
        "текущий выбор по каждой категории и версия политики, при которой он сделан",
    ),
)
_CONSENTS = Holding(
    "consent_events",
    ("id", "contact_id", "category", "granted", "source", "policy_version")
    + ("wording_version", "ip", "created_at"),
    text(
        "every grant and withdrawal: when, where from, the policy version in force, the "
        "wording shown, and the IP address when it came from a page",
        "каждое согласие и отказ: когда, откуда, действующая версия политики, показанный "
        "текст и IP-адрес, если выбор сделан на странице",
    ),
)
_RECIPIENT = Holding(
    "contacts",
    ("public_id", "email", "email_hash", "locale", "name", "time_zone"),
    text(
        "the address, name, language and time zone (for mail sent at a local hour)",
        "адрес, имя, язык и часовой пояс (для писем в местное время)",
    ),
)
#: Declared in invites.accounts.attributes (each names the purposes below that hold it).
ATTRIBUTES = Holding(
    "contact_attributes",
    ("contact_id", "name", "value", "number", "updated_at"),
    text(
        "details the app sends about the account, to choose who an offer is for: country, "
        "plan, camera model and sign-up day (staff see only how many match, never who)",
        "сведения об аккаунте из приложения, чтобы выбрать, кому адресовать предложение: "
        "страна, тариф, модель камеры и дата регистрации (сотрудники видят только число "
        "подходящих, но не кто это)",
    ),
)
_MARKETING_MESSAGES = Holding(
    "outbound_messages",
    ("contact_id", "category", "subject", "body_text", "body_html", "status", "sent_at"),
    text("single marketing messages and their outcome", "отдельные рекламные письма и их статус"),
)

SERVICE = Purpose(
    "service_email",
    text("Service email", "Служебные письма"),
    text(
        "Email about an account, its security and changes to this policy.",
        "Письма об аккаунте, его безопасности и изменениях этой политики.",
    ),
    (
        Holding(
            "contacts",
            ("id", "public_id", "user_id", "email", "email_hash", "locale", "name")
            + ("created_at", "updated_at"),
            text(
                "the account's id in the app, address, name and language",
                "идентификатор аккаунта в приложении, адрес, имя и язык",
            ),
        ),
        Holding(
            "outbound_messages",
            ("id", "public_id", "kind", "contact_id", "category", "locale", "template")
            + ("context", "status", "attempts", "next_attempt_at", "claimed_at", "last_error")
            + ("claim_token", "message_id", "created_at", "sent_at"),
            text(
                "each message: its template, the values filled in, and its delivery state",
                "каждое письмо: шаблон, подставленные значения и состояние доставки",
            ),
        ),
        IDEMPOTENCY_DATA,
    ),
    ("account_holders",),
    text(
        "contract (GDPR art. 6(1)(b)) and legal obligation (art. 6(1)(c))",
        "договор (GDPR ст. 6(1)(b)) и обязанность по закону (ст. 6(1)(c))",
    ),
    (CONTACT_LIFETIME, IDEMPOTENCY),
    ("smtp_relay", "hosting"),
)

PROMOTIONAL = Purpose(
    "promotional_email",
    text("SpotCam news and offers", "Новости и предложения SpotCam"),
    text(
        "SpotCam's own news and offers to account holders who have not opted out.",
        "Собственные новости и предложения SpotCam для владельцев аккаунтов, которые не "
        "отказались от них.",
    ),
    (_RECIPIENT, _PREFERENCES, _CONSENTS, ATTRIBUTES, _MARKETING_MESSAGES),
    ("account_holders",),
    text(
        "legitimate interest with opt-out (ePrivacy art. 13(2) soft opt-in)",
        "законный интерес с возможностью отказа (ePrivacy ст. 13(2), soft opt-in)",
    ),
    (CONSENT_LOG, CONTACT_LIFETIME),
    ("smtp_relay", "hosting"),
)

PARTNER = Purpose(
    "partner_offers",
    text("Partner offers", "Предложения партнёров"),
    text(
        "Offers SpotCam sends on behalf of partner companies, only with consent.",
        "Предложения, которые SpotCam отправляет от имени партнёров, только с согласия.",
    ),
    (_RECIPIENT, _PREFERENCES, _CONSENTS, ATTRIBUTES, _MARKETING_MESSAGES),
    ("account_holders",),
    text(
        "consent (GDPR art. 6(1)(a); ePrivacy art. 13(1))",
        "согласие (GDPR ст. 6(1)(a); ePrivacy ст. 13(1))",
    ),
    (
        Retention(
            "partner_consent",
            text(
                "A consent: until withdrawn, or until a policy version that changes partner "
                "sharing takes effect; then no partner offer is sent until the person "
                "consents again.",
                "Согласие: до отзыва или до вступления в силу версии политики, меняющей "
                "работу с партнёрами; после этого предложения партнёров не отправляются, "
                "пока человек не даст согласие снова.",
            ),
        ),
        CONSENT_LOG,
        CONTACT_LIFETIME,
    ),
    ("smtp_relay", "hosting"),
    note=text(
        "Partners receive nothing: SpotCam sends their offers itself, on their behalf.",
        "Партнёры ничего не получают: SpotCam сам отправляет их предложения от их имени.",
    ),
)

SUPPRESSION = Purpose(
    "suppression",
    text("Do-not-contact list", "Список «не писать»"),
    text(
        "Honouring requests not to be contacted, and not writing to addresses that bounce.",
        "Соблюдение просьб не писать и отказ от писем на адреса, с которых письма возвращаются.",
    ),
    (
        Holding(
            "suppressions",
            ("id", "email_hash", "reason", "created_at"),
            text(
                "a keyed hash (HMAC-SHA256) of the address and the reason, never the address",
                "хеш адреса с ключом (HMAC-SHA256) и причина, но не сам адрес",
            ),
        ),
        Holding(
            "soft_bounces",
            ("email_hash", "window_start", "count"),
            text(
                "temporary delivery failures per address (keyed hash)",
                "временные ошибки доставки по адресу (хеш с ключом)",
            ),
        ),
        Holding(
            "invitations",
            ("email_hash",),
            text(
                "the keyed hash on a closed invitation, for its removal link",
                "хеш с ключом в закрытом приглашении, для его ссылки удаления",
            ),
        ),
    ),
    ("objectors",),
    text(
        "legal obligation (GDPR art. 6(1)(c)) to honour objections (art. 21(3)), and "
        "legitimate interest (art. 6(1)(f)) in not writing to dead addresses",
        "обязанность по закону (GDPR ст. 6(1)(c)) соблюдать возражения (ст. 21(3)) и "
        "законный интерес (ст. 6(1)(f)) не писать на несуществующие адреса",
    ),
    (
        Retention(
            "suppression",
            text(
                "The keyed hash: kept, so that the request is honoured without holding the "
                "address.",
                "Хеш с ключом хранится, чтобы соблюдать просьбу, не храня сам адрес.",
            ),
        ),
        Retention.days_in(
            "soft_bounces",
            text(
                "Temporary failures: {days} days from the first one counted.",
                "Временные ошибки: {days} дн. с первой учтённой.",
            ),
            "soft_bounce_window_days",
            "invites.feedback.jobs.forget_soft_bounce_windows",
            HOURLY,
        ),
    ),
    ("hosting",),
)

DATA_REQUESTS = Purpose(
    "data_requests",
    text("Requests about your data", "Запросы о ваших данных"),
    text(
        "Answering a person who asks what is held about them, or to correct or erase it.",
        "Ответ человеку, который спрашивает, что о нём хранится, или просит исправить или "
        "удалить это.",
    ),
    (
        Holding(
            "outbound_messages",
            ("to_email", "to_email_hash", "template", "context", "status"),
            text(
                "the address (encrypted, with its keyed hash) of someone without an account "
                "whom we write to about their request",
                "адрес (зашифрованный, с хешем с ключом) человека без аккаунта, которому мы "
                "пишем о его запросе",
            ),
        ),
        Holding(
            "data_requests",
            ("id", "public_id", "email_hash", "source", "staff_user_id", "status", "locale")
            + ("created_at", "opened_at", "closed_at", "actions"),
            text(
                "each request: a keyed hash of the address (never the address), whether it came "
                "from the person or from staff, its state and dates, and what the person did",
                "каждый запрос: хеш адреса с ключом (но не сам адрес), от кого он — от человека "
                "или от сотрудника, его состояние и даты, и что человек сделал",
            ),
        ),
        Holding(
            "address_changes",
            ("id", "public_id", "contact_id", "new_email", "new_email_hash", "created_at"),
            text(
                "a new address asked for on the data page, until a link sent to it confirms it",
                "новый адрес, указанный на странице данных, пока ссылка, отправленная на него, "
                "не подтвердит его",
            ),
        ),
    ),
    ("requesters",),
    text(
        "legal obligation (GDPR art. 6(1)(c); arts. 12–22)",
        "обязанность по закону (GDPR ст. 6(1)(c); ст. 12–22)",
    ),
    (
        Retention.days_in(
            "data_request_records",
            text(
                "The record of a request (keyed hash, dates, outcome): {days} days, as proof "
                "that it was answered.",
                "Запись о запросе (хеш с ключом, даты, результат): {days} дн., как "
                "подтверждение того, что на него ответили.",
            ),
            "data_request_keep_days",
            "invites.datarequests.jobs.forget_data_requests",
            HOURLY,
        ),
        Retention(
            "address_changes",
            text(
                "A new address not yet confirmed: {hours} hours; then erased.",
                "Неподтверждённый новый адрес: {hours} ч.; затем удаляется.",
            ),
            period=lambda _settings: timedelta(hours=24),
            job="invites.datarequests.jobs.forget_data_requests",
            every_seconds=HOURLY,
        ),
        Retention(
            "request_address",
            text(
                "The address: until that message has been sent or has failed; then erased.",
                "Адрес: пока письмо не отправлено или не завершилось ошибкой; затем удаляется.",
            ),
        ),
    ),
    ("smtp_relay", "hosting"),
)
