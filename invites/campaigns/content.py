"""A campaign's content: checked and compiled when saved, personalised per recipient when sent.

Compiling (Markdown, sanitising, the layout, CSS inlining, the sandbox's checks) happens once,
when staff save a locale; workers rebuild the compiled templates from what was stored and keep
them for the campaign's version, so a recipient costs one sandboxed render and one compose.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from flask import Flask

from invites.accounts.categories import CATEGORIES
from invites.campaigns.models import Campaign, CampaignContent
from invites.core.atrest import vault
from invites.core.config import Settings
from invites.core.mail import link, message_domain, tokens
from mailer import Mailbox, Outgoing, compose, parse_mailbox
from mailer.authoring import Draft, compile_draft, load_layout
from mailer.compiled import CompiledDraft

#: Locales a campaign can be written in (the email templates exist for these).
LOCALES = ("en", "ru")
#: Compiled contents kept per process: (campaign id, version, locale) → (the stored JSON it
#: was built from, CompiledDraft). The JSON is compared too, so a database restored or
#: recreated under a running process (ids and versions start again) can't serve stale content.
_CACHE: OrderedDict[tuple[int, int, str], tuple[str, CompiledDraft]] = OrderedDict()
_CACHE_SIZE = 64


def constants(campaign: Campaign, locale: str) -> dict[str, str]:
    """The campaign's values every recipient sees alike."""
    return {
        "partner_name": campaign.partner_name or "",
        "campaign_name": campaign.name,
        "locale": locale,
    }


def is_service(campaign: Campaign) -> bool:
    """Service mail (a policy notice): it can't be left, so it has no unsubscribe link and
    no one-click header, and comes from the service address."""
    return not CATEGORIES[campaign.category].can_opt_out


def default_sender(settings: Settings, campaign: Campaign) -> str:
    """Where the campaign's mail comes from when staff named no sender."""
    return settings.mail_from_service if is_service(campaign) else settings.mail_from_marketing


def compile_locale(
    app: Flask, campaign: Campaign, locale: str, draft: Draft, sample: dict[str, str]
) -> CompiledDraft:
    """Check and compile one locale's draft; raise mailer.compiled.DraftRejected if unsafe."""
    layout = "policy_notice" if campaign.policy_version_id else "campaign"
    html, text = load_layout(app.config["TEMPLATE_ROOT"] + "/email", locale, layout)
    return compile_draft(
        draft,
        html,
        text,
        constants=constants(campaign, locale),
        sample=sample,
        unsubscribe=not is_service(campaign),
    )


def stored(compiled: CompiledDraft) -> str:
    """The compiled form as stored with the content."""
    return json.dumps(compiled.to_json())


def compiled_for(campaign: Campaign, content: CampaignContent) -> CompiledDraft:
    """The compiled templates of one saved locale (built once per process and version)."""
    if not content.compiled:
        raise LookupError(f"campaign {campaign.id} has no compiled {content.locale} content")
    key = (campaign.id, campaign.version, content.locale)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == content.compiled:
        return cached[1]
    found = CompiledDraft.from_json(json.loads(content.compiled))
    _CACHE[key] = (content.compiled, found)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return found


def first_name(name: str | None) -> str:
    """What a greeting uses: the first word of the name the app gave us."""
    return (name or "").split(" ", 1)[0]


def unsubscribe_url(settings: Settings, app: Flask, public_id: str, campaign: Campaign) -> str:
    """The one-click (and preference page) link; it carries the campaign for attribution.
    Service mail's is the preference page's, as any service message's (nothing to leave)."""
    if is_service(campaign):
        return link(settings, "/p/" + tokens(app).make("preferences", f"{public_id}:service"))
    token = tokens(app).make("preferences", f"{public_id}:{campaign.category}:{campaign.id}")
    return link(settings, "/p/" + token)


class MessageBuilder:
    """Builds each recipient's message of one campaign from its compiled locales."""

    def __init__(self, app: Flask, campaign: Campaign) -> None:
        from invites.core.db import db

        self.app = app
        self.settings: Settings = app.config["SETTINGS"]
        self.campaign = campaign
        rows = db.session.scalars(
            db.select(CampaignContent).where(CampaignContent.campaign_id == campaign.id)
        ).all()
        self.locales = {row.locale: compiled_for(campaign, row) for row in rows}
        if not self.locales:
            raise LookupError(f"campaign {campaign.id} has no content")
        self.fallback = self.locales.get("en") or next(iter(self.locales.values()))
        self.service = is_service(campaign)
        self.sender: Mailbox = parse_mailbox(
            campaign.sender or default_sender(self.settings, campaign)
        )
        self.domain = message_domain(self.sender)
        # Each message opens one sealed address (invites.core.atrest): the keys, made once.
        self.vault = vault(self.settings)

    def build(self, row: Any) -> Outgoing:
        """The message for one ledger row joined with its contact."""
        compiled = self.locales.get(row.locale, self.fallback)
        unsubscribe = unsubscribe_url(self.settings, self.app, row.public_id, self.campaign)
        rendered = compiled.render(
            first_name=first_name(row.name),
            unsubscribe_url=unsubscribe,
            preferences_url=unsubscribe,
        )
        return compose(
            sender=self.sender,
            to=self.vault.open_address("contacts.email", row.email_sealed, row.email_hash),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id_domain=self.domain,
            # Service mail has no one-click header: there is nothing to unsubscribe from.
            unsubscribe_url=None if self.service else unsubscribe,
            # Derived from (campaign, contact): a relay or a receiver can recognise a copy.
            message_id_local=f"campaign-{self.campaign.id}.{row.public_id}",
        )
