"""The first entry of the policy archive: the version in force when the archive began.

Consent records made before the archive existed name a version (`PRIVACY_POLICY_VERSION`,
recorded with each of them) whose text the service never held. Migration 0011 records that
version, published and in force from the day of the upgrade, with a placeholder text that
says so; an admin may record its real text once, in the console. Written with plain table
constructs (not the models) so that the migration stays what it was when the models change.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

_VERSIONS = sa.table(
    "policy_versions",
    sa.column("id", sa.Integer),
    sa.column("label", sa.String),
    sa.column("effective_on", sa.Date),
    sa.column("material", sa.Boolean),
    sa.column("changes_partner_sharing", sa.Boolean),
    sa.column("notice_on", sa.Date),
    sa.column("placeholder", sa.Boolean),
    sa.column("created_at", sa.DateTime),
    sa.column("created_by", sa.Integer),
    sa.column("updated_at", sa.DateTime),
    sa.column("published_at", sa.DateTime),
    sa.column("published_by", sa.Integer),
)
_TEXTS = sa.table(
    "policy_texts",
    sa.column("version_id", sa.Integer),
    sa.column("locale", sa.String),
    sa.column("body", sa.Text),
    sa.column("summary", sa.Text),
)

#: (body, summary) per locale; {label} and {day} are filled in.
PLACEHOLDER = {
    "en": (
        "# Privacy policy {label}\n\n"
        "This version of SpotCam's privacy policy was in force when this archive of policy "
        "versions began, on {day}. Its text was not recorded here at that time.\n\n"
        "Choices people made under it are recorded with its label, *{label}*. Every later "
        "version is kept here word for word, for good.",
        "The version in force when the archive began; its text predates the archive.",
    ),
    "ru": (
        "# Политика конфиденциальности {label}\n\n"
        "Эта версия политики конфиденциальности SpotCam действовала, когда начался этот "
        "архив версий ({day}). Её текст тогда не был сохранён здесь.\n\n"
        "Решения, принятые при ней, записаны с её обозначением — *{label}*. Все следующие "
        "версии хранятся здесь полностью и навсегда.",
        "Версия, действовавшая в начале архива; её текст старше архива.",
    ),
}


def record(conn: sa.Connection, label: str, on: date, now: datetime) -> bool:
    """Record `label` as the version in force from day `on`, unless the archive has any
    version already; return whether it did."""
    if conn.execute(sa.select(_VERSIONS.c.id).limit(1)).first() is not None:
        return False
    conn.execute(
        _VERSIONS.insert().values(
            label=label,
            effective_on=on,
            material=False,
            changes_partner_sharing=False,
            placeholder=True,
            created_at=now,
            updated_at=now,
            published_at=now,
        )
    )
    version_id = conn.execute(
        sa.select(_VERSIONS.c.id).where(_VERSIONS.c.label == label)
    ).scalar_one()
    conn.execute(
        _TEXTS.insert(),
        [
            {
                "version_id": version_id,
                "locale": locale,
                "body": body.format(label=label, day=on.isoformat()),
                "summary": summary,
            }
            for locale, (body, summary) in PLACEHOLDER.items()
        ],
    )
    return True
