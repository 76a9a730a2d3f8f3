"""Test sends: a campaign rendered for addresses staff type in, marked as a test.

Not counted, not in the ledger, never a reason to suppress anything; they go through the
outbox like every other message (the web request never talks to SMTP or RQ), and each staff
member may send only so many an hour.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime

from flask import Flask

from invites.campaigns import content, ratelimit
from invites.campaigns.lifecycle import Actor, audit_step
from invites.campaigns.models import Campaign, CampaignContent
from invites.core import queue
from invites.core.db import AnySession, utcnow
from invites.core.mail import compose_rendered, link
from invites.delivery import relay
from invites.delivery.kinds import Context, Ready, Skip, Status
from invites.delivery.models import OutboundMessage
from mailer import Rendered
from mailer.classify import Verdict

#: At most this many addresses per test send.
MAX_ADDRESSES = 5
#: Test messages per staff member per hour.
PER_HOUR = 20
SUBJECT_MARK = "[TEST] "


class TestLimitExceeded(Exception):
    """The staff member sent too many tests this hour; retry_after is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many test sends; try again in {retry_after} s")
        self.retry_after = retry_after


def queue_tests(
    session: AnySession,
    app: Flask,
    campaign: Campaign,
    locale: str,
    addresses: list[str],
    actor: Actor,
    first_name: str = "",
) -> list[str]:
    """Render the campaign's `locale`, queue one test message per address and audit it (how
    many, never which); return the messages' ids."""
    row = session.get(CampaignContent, (campaign.id, locale))
    if row is None or not row.compiled:
        raise LookupError(f"no saved {locale} content")
    strategy = ratelimit.limiter(app)
    item = ratelimit.RateLimitItemPerHour(PER_HOUR)
    for _ in addresses:
        if not strategy.hit(item, "test-send", str(actor.id)):
            reset = strategy.get_window_stats(item, "test-send", str(actor.id)).reset_time
            raise TestLimitExceeded(max(1, int(reset - datetime.now().timestamp())))
    settings = app.config["SETTINGS"]
    compiled = content.compiled_for(campaign, row)
    # The test's links lead to the home page: following them must change nobody's choices.
    harmless = link(settings, "/")
    rendered = compiled.render(
        first_name=first_name, unsubscribe_url=harmless, preferences_url=harmless
    )
    sender = campaign.sender or content.default_sender(settings, campaign)
    now = utcnow()
    ids = []
    for address in addresses:
        msg = OutboundMessage(
            public_id=secrets.token_urlsafe(12),
            kind=CampaignTest.name,
            to_email=address,
            locale=locale,
            subject=SUBJECT_MARK + rendered.subject,
            body_text=rendered.text,
            body_html=rendered.html,
            context=json.dumps({"campaign": campaign.id, "sender": sender}),
            created_at=now,
            next_attempt_at=now,
        )
        session.add(msg)
        session.flush()
        relay.wake(session, msg.id)
        ids.append(msg.public_id or "")
    audit_step(session, actor, "test_send", campaign, locale=locale, addresses=len(ids))
    return ids


class CampaignTest:
    """A test send: already rendered; only the address is needed at send time."""

    name = "campaign_test"
    queue = queue.MAIL_QUEUE

    def prepare(self, session: AnySession, msg: OutboundMessage, ctx: Context) -> Skip | Ready:
        """Compose what was rendered when the test was asked for."""
        if not msg.to_email or msg.body_html is None or msg.body_text is None:
            return Skip(Status.CANCELLED, "test message incomplete")
        sender = json.loads(msg.context or "{}").get("sender") or ctx.settings.mail_from_marketing
        rendered = Rendered(msg.subject or SUBJECT_MARK, msg.body_text, msg.body_html)
        return Ready(compose_rendered(rendered, sender, msg.to_email))

    def sent(self, session: AnySession, msg: OutboundMessage, now: datetime, ctx: Context) -> None:
        """Not counted anywhere."""

    def failed(
        self,
        session: AnySession,
        msg: OutboundMessage,
        now: datetime,
        ctx: Context,
        verdict: Verdict,
    ) -> None:
        """An address typed by staff is not suppressed for a failed test."""

    def unknown(
        self, session: AnySession, msg: OutboundMessage, now: datetime, ctx: Context
    ) -> None:
        """Nothing to record."""
