"""Register entries (`invites.privacy.register`) for the records the service keeps about its
own work: staff accounts and the audit log, and the campaign delivery ledger.

Column lists are exact: a new column stays out of every purpose until someone classifies it.
"""

from __future__ import annotations

from invites.privacy.register import Holding, Purpose, Retention, text

STAFF_AUDIT = Purpose(
    "staff_audit",
    text("Staff accounts and audit log", "Учётные записи и журнал действий сотрудников"),
    text(
        "Letting staff sign in to the console, and recording who did what there.",
        "Вход сотрудников в консоль и запись того, кто что в ней сделал.",
    ),
    (
        Holding(
            "staff_users",
            ("id", "email", "email_hash", "password_hash", "role", "time_zone", "session_token")
            + ("created_at", "last_login_at", "disabled_at")
            + ("totp_secret", "totp_enabled_at", "totp_last_step"),
            text(
                "the staff member's email (encrypted, and its keyed hash to sign in by), "
                "password hash, role and time zone, and their two-factor key (encrypted)",
                "email сотрудника (зашифрованный, и его хеш с ключом для входа), хеш пароля, "
                "роль и часовой пояс, а также ключ двухфакторного входа (зашифрованный)",
            ),
        ),
        Holding(
            "staff_recovery_codes",
            ("id", "staff_user_id", "code_hash", "created_at", "used_at"),
            text(
                "hashes of a staff member's one-time recovery codes, and when each was used",
                "хеши одноразовых кодов восстановления сотрудника и время их использования",
            ),
        ),
        Holding(
            "audit_events",
            ("id", "at", "actor_id", "actor", "action", "target_type", "target_id", "detail")
            + ("ip",),
            text(
                "who did what (a staff account by its id, never its email), when and from "
                "which IP (no recipient's personal data)",
                "кто что сделал (сотрудник — по номеру учётной записи, без email), когда и с "
                "какого IP (без данных получателей)",
            ),
        ),
        Holding(
            "campaigns",
            ("created_by", "edited_by", "approved_by", "approved_at"),
            text("who wrote and approved a campaign", "кто написал и одобрил рассылку"),
        ),
        Holding(
            "policy_versions",
            ("created_by", "created_at", "published_by", "published_at"),
            text(
                "who wrote and published a policy version",
                "кто написал и опубликовал версию политики",
            ),
        ),
    ),
    ("staff",),
    text(
        "legitimate interest (GDPR art. 6(1)(f)) in security and accountability (arts. 5(2), 32)",
        "законный интерес (GDPR ст. 6(1)(f)) в безопасности и подотчётности (ст. 5(2), 32)",
    ),
    (
        Retention(
            "staff",
            text(
                "Staff accounts are disabled, never deleted; the audit log is kept for good "
                "and can't be changed.",
                "Учётные записи сотрудников отключаются, но не удаляются; журнал действий "
                "хранится всегда и не может быть изменён.",
            ),
        ),
    ),
    ("hosting",),
)

CAMPAIGN_DELIVERY = Purpose(
    "campaign_delivery",
    text("Campaign delivery records", "Записи о доставке рассылок"),
    text(
        "Sending each person at most one copy of a campaign, and counting its results.",
        "Отправка каждому не более одного экземпляра рассылки и подсчёт её результатов.",
    ),
    (
        Holding(
            "campaign_deliveries",
            ("id", "campaign_id", "contact_id", "batch_id", "status", "attempts")
            + ("next_attempt_at", "reason", "sent_at", "updated_at"),
            text(
                "per campaign and person: whether it was sent, and why not",
                "по рассылке и человеку: отправлено ли письмо и если нет, то почему",
            ),
        ),
        Holding(
            "campaign_batches",
            ("first_contact_id", "last_contact_id"),
            text("the contact ids bounding a batch", "идентификаторы контактов на границах пакета"),
        ),
    ),
    ("account_holders",),
    text(
        "legitimate interest (GDPR art. 6(1)(f)) in never sending a campaign twice to anyone",
        "законный интерес (GDPR ст. 6(1)(f)) — никому не отправлять рассылку дважды",
    ),
    (
        Retention(
            "campaign_delivery",
            text(
                "Kept with the contact; when a contact is erased its rows stay without it, so "
                "that a campaign's totals don't change.",
                "Хранятся вместе с контактом; при удалении контакта строки остаются без него, "
                "чтобы итоги рассылки не менялись.",
            ),
        ),
    ),
    ("hosting",),
)
