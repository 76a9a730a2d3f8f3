"""Notices of a material change to the privacy policy: a campaign of service mail per version.

Publishing a material version (the console calls `schedule` in the publishing transaction)
creates one campaign for it: category service, to every contact — account holders; invitees
are not contacts, their address is held only for their invitation — with content written
here, not by staff: in each language the version's summary of what changed and links to the
new and the previous text. It is scheduled for the version's notice day (POLICY_NOTICE_DAYS
before it takes effect; at once if that is today) and goes through the engine's batches and
ledger, so each contact gets it once, after any crash. `campaigns.policy_version_id` is
unique: two admins publishing at once make one notice (and the publish itself is a
conditional UPDATE, so only one of them gets this far).

Its content is the service's and the admin who published the version approved it by
publishing: that is what the audit log says (`policy.notice_scheduled`), and the campaign's
approval names them; no second person is pretended. Staff see its progress on the campaign's
page and can pause and resume it, but not edit, duplicate, unschedule, cancel or delete it
(`drafting.not_a_notice`).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from flask import Flask
from sqlalchemy import select

from invites.campaigns import content
from invites.campaigns.drafting import Actor, audit_step
from invites.campaigns.models import Anchor, Campaign, CampaignContent, CampaignStatus
from invites.core import audit
from invites.core.config import Settings
from invites.core.db import AnySession
from invites.core.mail import link
from invites.privacy import versions
from invites.privacy.models import PolicyVersion
from mailer.authoring import Draft

#: The words of a notice, per locale. `{…}` are filled here with values that are ours (dates,
#: labels and URLs, whose characters a label's pattern keeps plain); the admin-written
#: summary goes in as template string literals, escaped by the templates themselves.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Our privacy policy changes on {effective}",
        "preheader": "What changes, and where to read the new and the previous text",
        "hello": "Hello{% if first_name %}, {{ first_name }}{% endif %},",
        "intro": "We are changing the SpotCam privacy policy. The new version, {label}, takes "
        "effect on {effective}; until then the version now in force applies.",
        "what": "What changes:",
        "new": "Read the new policy ({label})",
        "previous": "Read the previous policy ({previous})",
        "why": "We tell every account holder about a material change before it takes effect. "
        "This is service email: it comes once for this change.",
    },
    "ru": {
        "subject": "Политика конфиденциальности меняется с {effective}",
        "preheader": "Что меняется и где прочитать новую и прежнюю редакции",
        "hello": "Здравствуйте{% if first_name %}, {{ first_name }}{% endif %}!",
        "intro": "Мы меняем политику конфиденциальности SpotCam. Новая редакция, {label}, "
        "вступает в силу {effective}; до этого действует нынешняя.",
        "what": "Что меняется:",
        "new": "Новая редакция ({label})",
        "previous": "Прежняя редакция ({previous})",
        "why": "Мы сообщаем всем владельцам аккаунтов о существенных изменениях до того, как "
        "они вступят в силу. Это служебное письмо: об этом изменении оно приходит один раз.",
    },
}


class NoticeError(ValueError):
    """A notice can't be made for this version (not material, or not published)."""


def _literal(text: str) -> str:
    """`text` as a template expression that prints it as it is (escaped in HTML): an
    admin's `{{` stays text."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '{{ "' + escaped + '" }}'


def _lines(summary: str) -> list[str]:
    return [line.strip() for line in summary.replace("\r", "").strip().split("\n")]


def policy_url(settings: Settings, label: str, locale: str) -> str:
    """The public page of a version, in the reader's language."""
    return link(
        settings, f"/privacy/policy/{label}" + ("" if locale == "en" else f"?lang={locale}")
    )


def previous_of(session: AnySession, version: PolicyVersion) -> PolicyVersion | None:
    """The published version in force the day before this one takes effect."""
    return versions.in_force(
        session, version.effective_on - timedelta(days=1), excluding=version.id
    )


def draft_for(
    settings: Settings,
    version: PolicyVersion,
    previous: PolicyVersion | None,
    summary: str,
    locale: str,
) -> Draft:
    """One locale's notice, as a campaign draft (HTML body and its text part)."""
    words = WORDS[locale]
    values = {
        "label": version.label,
        "effective": version.effective_on.isoformat(),
        "previous": previous.label if previous else "",
    }
    new_url = policy_url(settings, version.label, locale)
    links = [(words["new"].format(**values), new_url)]
    if previous is not None:
        links.append(
            (words["previous"].format(**values), policy_url(settings, previous.label, locale))
        )
    lines = _lines(summary)
    paragraphs = [
        "<br>".join(_literal(line) for line in block.split("\n") if line)
        for block in re.split(r"\n\s*\n", "\n".join(lines))
        if block.strip()
    ]
    html = [
        f"<p>{words['hello']}</p>",
        f"<p>{words['intro'].format(**values)}</p>",
        f"<p><strong>{words['what']}</strong></p>",
        *(f"<p>{p}</p>" for p in paragraphs),
        *(f'<p><a href="{url}">{label}</a></p>' for label, url in links),
        f"<p>{words['why']}</p>",
    ]
    text = [
        words["hello"],
        "",
        words["intro"].format(**values),
        "",
        words["what"],
        *(_literal(line) if line else "" for line in lines),
        "",
        *(f"{label}: {url}" for label, url in links),
        "",
        words["why"],
    ]
    return Draft(
        subject=words["subject"].format(**values),
        preheader=words["preheader"],
        body="\n".join(html),
        body_format="html",
        text="\n".join(text),
    )


def notice_of(session: AnySession, version_id: int) -> Campaign | None:
    """The notice campaign of a policy version, if it has one."""
    return session.scalar(select(Campaign).where(Campaign.policy_version_id == version_id))


def schedule(
    session: AnySession, app: Flask, version: PolicyVersion, actor: Actor, now: datetime
) -> Campaign:
    """Create the version's notice campaign, scheduled for its notice day (or now), approved
    by the publishing admin's act of publishing, and audited. The caller commits."""
    if not version.material or version.notice_on is None or version.published_at is None:
        raise NoticeError(f"version {version.label} is not a published material change")
    settings: Settings = app.config["SETTINGS"]
    campaign = Campaign(
        name=f"Privacy policy {version.label}: notice of a material change",
        category="service",
        policy_version_id=version.id,
        status=CampaignStatus.SCHEDULED,
        anchor=Anchor.MOMENT,
        # Midnight UTC of the notice day; a notice due today goes at the scheduler's next tick.
        scheduled_at=max(datetime.combine(version.notice_on, time()), now),
        created_by=actor.id,
        # Nobody edited it: the service wrote it. The publishing admin approved it by publishing.
        edited_by=None,
        approved_version=1,
        approved_by=actor.id,
        approved_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    session.flush()  # the unique policy_version_id: a second notice of this version fails here
    previous = previous_of(session, version)
    texts = versions.texts(session, version)
    for locale in content.LOCALES:
        summary = versions.text_in(texts, locale).summary
        draft = draft_for(settings, version, previous, summary, locale)
        compiled = content.compile_locale(app, campaign, locale, draft, sample={})
        session.add(
            CampaignContent(
                campaign_id=campaign.id,
                locale=locale,
                subject=draft.subject,
                preheader=draft.preheader,
                body=draft.body,
                body_format=draft.body_format,
                text=draft.text,
                compiled=content.stored(compiled),
            )
        )
    assert campaign.scheduled_at is not None
    audit_step(session, actor, "create", campaign, name=campaign.name, category="service")
    audit.record(
        session,
        actor=actor,
        action="policy.notice_scheduled",
        target_type="policy_version",
        target_id=version.id,
        detail={
            "label": version.label,
            "campaign": campaign.id,
            "at": campaign.scheduled_at.isoformat(),
            "approved_by_publishing": True,
        },
        ip=actor.ip,
        now=now,
    )
    return campaign
