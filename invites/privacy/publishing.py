"""What admins do to policy versions, each step checked and audited. No HTTP here.

draft ─edit→ draft ─publish→ published (upcoming → in force → superseded, by the dates)
  └─delete

Every step that changes a version is one conditional UPDATE (`… WHERE published_at IS NULL`)
before anything else, so it holds the row (PostgreSQL) or the database (SQLite) while it
checks: two admins publishing at once publish once, and an edit that loses the race to a
publish changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from invites.core import audit
from invites.core.config import Settings
from invites.core.db import AnySession
from invites.core.locale import LOCALES
from invites.privacy.models import PolicyText, PolicyVersion
from invites.privacy.versions import LABEL_PATTERN, in_force

#: Generous bounds: a policy is long, a summary of what changed is not.
BODY_MAX = 200_000
SUMMARY_MAX = 2_000
_LABEL = re.compile(LABEL_PATTERN)


class PolicyError(ValueError):
    """A step that isn't possible now; `problems` says why, per form field. The caller rolls
    back: a refused step may have written part of itself."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


@dataclass(frozen=True)
class Draft:
    """What an admin writes: label, effective day, flags, and per locale the text and summary."""

    label: str
    effective_on: date | None
    material: bool = False
    changes_partner_sharing: bool = False
    bodies: dict[str, str] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)


def check_texts(draft: Draft) -> dict[str, str]:
    """Problems with the texts and summaries, per field (`body_en`, `summary_ru`, ...)."""
    problems: dict[str, str] = {}
    for locale in LOCALES:
        body = draft.bodies.get(locale, "")
        summary = draft.summaries.get(locale, "")
        if not body.strip():
            problems[f"body_{locale}"] = f"Write the policy's text in {locale}."
        elif len(body) > BODY_MAX:
            problems[f"body_{locale}"] = f"The {locale} text is over {BODY_MAX:,} characters."
        if not summary.strip():
            problems[f"summary_{locale}"] = f"Say what changed, in {locale}."
        elif len(summary) > SUMMARY_MAX:
            problems[f"summary_{locale}"] = (
                f"The {locale} summary is over {SUMMARY_MAX:,} characters."
            )
        for field_name, value in ((f"body_{locale}", body), (f"summary_{locale}", summary)):
            if "\x00" in value:
                problems[field_name] = "It may not contain NUL characters."
    return problems


def check_draft(
    session: AnySession, draft: Draft, settings: Settings, on: date, version_id: int | None
) -> dict[str, str]:
    """Everything wrong with a draft as of day `on`, per field; empty if it may be published."""
    problems: dict[str, str] = {}
    if not _LABEL.fullmatch(draft.label):
        problems["label"] = (
            "A label is 1-64 letters, digits, dots, dashes or underscores, starting with a "
            "letter or digit (e.g. 2027-01)."
        )
    elif session.scalar(
        select(PolicyVersion.id).where(
            PolicyVersion.label == draft.label, PolicyVersion.id != (version_id or 0)
        )
    ):
        problems["label"] = f"There is already a version labelled {draft.label}."
    problems.update(_date_problems(session, draft, settings, on, version_id))
    if draft.changes_partner_sharing and not draft.material:
        problems["material"] = (
            "A change to partner sharing is always material: people must be told before it "
            "takes effect."
        )
    problems.update(check_texts(draft))
    return problems


def _date_problems(
    session: AnySession, draft: Draft, settings: Settings, on: date, version_id: int | None
) -> dict[str, str]:
    when = draft.effective_on
    if when is None:
        return {"effective_on": "Give the day it takes effect (YYYY-MM-DD)."}
    taken = session.scalar(
        select(PolicyVersion.label).where(
            PolicyVersion.effective_on == when, PolicyVersion.id != (version_id or 0)
        )
    )
    if taken is not None:
        return {"effective_on": f"Version {taken} already takes effect on {when}."}
    if when < on:
        return {"effective_on": f"It can't take effect in the past (today is {on} UTC)."}
    current = in_force(session, on, excluding=version_id)
    if current is not None and when <= current.effective_on:
        return {
            "effective_on": f"It must take effect after the version in force ({current.label}, "
            f"in force since {current.effective_on})."
        }
    earliest = on + timedelta(days=settings.policy_notice_days)
    if draft.material and when < earliest:
        return {
            "effective_on": f"A material change takes effect at least {settings.policy_notice_days}"
            f" days after it is published, the time to tell people first: {earliest} or later."
        }
    return {}


def _write_texts(session: AnySession, version_id: int, draft: Draft) -> None:
    session.execute(delete(PolicyText).where(PolicyText.version_id == version_id))
    for locale in LOCALES:
        session.add(
            PolicyText(
                version_id=version_id,
                locale=locale,
                body=draft.bodies[locale],
                summary=draft.summaries[locale].strip(),
            )
        )


def _audit(
    session: AnySession,
    actor: audit.Actor,
    action: str,
    version: PolicyVersion,
    ip: str | None,
    now: datetime,
    **extra: Any,
) -> None:
    detail = {
        "label": version.label,
        "effective_on": version.effective_on.isoformat(),
        "material": version.material,
        "changes_partner_sharing": version.changes_partner_sharing,
        **extra,
    }
    audit.record(
        session,
        actor=actor,
        action=f"policy.{action}",
        target_type="policy_version",
        target_id=version.id,
        detail=detail,
        ip=ip,
        now=now,
    )


def create(
    session: AnySession,
    draft: Draft,
    settings: Settings,
    actor: audit.Actor,
    now: datetime,
    ip: str | None = None,
) -> PolicyVersion:
    """Save a new draft (checked as if it were to be published today)."""
    problems = check_draft(session, draft, settings, now.date(), None)
    if problems:
        raise PolicyError(problems)
    assert draft.effective_on is not None
    version = PolicyVersion(
        label=draft.label,
        effective_on=draft.effective_on,
        material=draft.material,
        changes_partner_sharing=draft.changes_partner_sharing,
        created_at=now,
        created_by=actor.id,
        updated_at=now,
    )
    session.add(version)
    session.flush()
    _write_texts(session, version.id, draft)
    _audit(session, actor, "create", version, ip, now)
    return version


def _claim_draft(session: AnySession, version_id: int, now: datetime, **values: Any) -> None:
    """Change a draft's row if it still is one (the step's lock); else say why not."""
    changed = session.execute(
        update(PolicyVersion)
        .where(PolicyVersion.id == version_id, PolicyVersion.published_at.is_(None))
        .values(updated_at=now, **values)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise PolicyError({"version": "It has been published: a published version never changes."})


def edit(
    session: AnySession,
    version_id: int,
    draft: Draft,
    settings: Settings,
    actor: audit.Actor,
    now: datetime,
    ip: str | None = None,
) -> PolicyVersion:
    """Replace a draft's fields and texts; a published version can't be edited."""
    _claim_draft(session, version_id, now)
    problems = check_draft(session, draft, settings, now.date(), version_id)
    if problems:
        raise PolicyError(problems)
    assert draft.effective_on is not None
    session.execute(
        update(PolicyVersion)
        .where(PolicyVersion.id == version_id)
        .values(
            label=draft.label,
            effective_on=draft.effective_on,
            material=draft.material,
            changes_partner_sharing=draft.changes_partner_sharing,
        )
    )
    _write_texts(session, version_id, draft)
    version = session.get(PolicyVersion, version_id, populate_existing=True)
    assert version is not None
    _audit(session, actor, "edit", version, ip, now)
    return version


def delete_draft(
    session: AnySession, version_id: int, actor: audit.Actor, now: datetime, ip: str | None = None
) -> None:
    """Delete a draft (published versions stay readable forever)."""
    _claim_draft(session, version_id, now)
    version = session.get(PolicyVersion, version_id, populate_existing=True)
    assert version is not None
    _audit(session, actor, "delete", version, ip, now)
    session.execute(delete(PolicyText).where(PolicyText.version_id == version_id))
    session.execute(delete(PolicyVersion).where(PolicyVersion.id == version_id))


def publish(
    session: AnySession,
    version_id: int,
    settings: Settings,
    actor: audit.Actor,
    now: datetime,
    ip: str | None = None,
) -> PolicyVersion:
    """Publish a draft: checked again as of now, then fixed for good and audited."""
    _claim_draft(session, version_id, now, published_at=now, published_by=actor.id)
    version = session.get(PolicyVersion, version_id, populate_existing=True)
    assert version is not None
    stored = session.scalars(select(PolicyText).where(PolicyText.version_id == version_id))
    by_locale = {t.locale: t for t in stored}
    draft = Draft(
        label=version.label,
        effective_on=version.effective_on,
        material=version.material,
        changes_partner_sharing=version.changes_partner_sharing,
        bodies={locale: t.body for locale, t in by_locale.items()},
        summaries={locale: t.summary for locale, t in by_locale.items()},
    )
    problems = check_draft(session, draft, settings, now.date(), version_id)
    if problems:
        raise PolicyError(problems)
    if version.material:
        # Its notice goes out on this day: the console has invites.campaigns.notices schedule
        # it in this transaction (the campaign engine sits above this area).
        version.notice_on = version.effective_on - timedelta(days=settings.policy_notice_days)
    _audit(session, actor, "publish", version, ip, now, notice_on=_iso(version.notice_on))
    return version


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def record_initial_text(
    session: AnySession,
    version_id: int,
    draft: Draft,
    actor: audit.Actor,
    now: datetime,
    ip: str | None = None,
) -> PolicyVersion:
    """Record, once, the text of the version that was in force when the archive began."""
    problems = check_texts(draft)
    if problems:
        raise PolicyError(problems)
    changed = session.execute(
        update(PolicyVersion)
        .where(PolicyVersion.id == version_id, PolicyVersion.placeholder.is_(True))
        .values(placeholder=False, updated_at=now)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise PolicyError({"version": "Its text has been recorded already; it can't change."})
    _write_texts(session, version_id, draft)
    version = session.get(PolicyVersion, version_id, populate_existing=True)
    assert version is not None
    _audit(session, actor, "record_text", version, ip, now)
    return version
