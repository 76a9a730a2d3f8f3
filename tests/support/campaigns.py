"""Helpers for campaign stories: seed an audience with known rules, build and send a campaign."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from flask import Flask
from sqlalchemy import insert

from invites.accounts.models import Contact, Preference
from invites.campaigns import content, jobs, lifecycle
from invites.campaigns.models import Campaign, CampaignDelivery
from invites.core.addresses import address_hash
from invites.core.atrest import vault
from invites.core.db import db, utcnow
from invites.core.models import Suppression
from mailer.authoring import Draft

from .helpers import worker_process
from .smtpd import SMTPSink

T = TypeVar("T")


def actor(app: Flask, email: str = "marketer@example.com") -> lifecycle.Actor:
    """A staff member who acts on campaigns (created on first use)."""
    from invites.staff import Role, users

    with app.app_context():
        user = users.find_by_email(db.session, email)
        if user is None:
            user = users.create_user(
                db.session, email, "a long test password", Role.MARKETING, now=utcnow()
            )
            db.session.commit()
        found = lifecycle.Actor(user.id, user.label)
        db.session.remove()
    return found


@dataclass(frozen=True)
class Person:
    """One seeded contact and the rules that decide, independently of the service, its fate."""

    n: int
    email: str
    locale: str
    promotional: bool | None  # None: never chose
    partner: bool | None
    suppressed: str | None
    time_zone: str | None = None

    def gets(self, category: str, locale: str | None = None) -> bool:
        """Whether the privacy policy lets this category reach this person (the oracle)."""
        if self.suppressed in ("unsubscribed_all", "hard_bounce", "complaint", "manual"):
            return False
        if locale is not None and self.locale != locale:
            return False
        if category == "promotional":
            return self.promotional is not False  # opt-out: on unless they said no
        return self.partner is True  # opt-in: only with a consent


#: i % 19 → a suppression reason. "removed" is an invitation removal: it must not stop the
#: marketing of an account opened later with that address.
SUPPRESSED = {7: "hard_bounce", 11: "complaint", 13: "unsubscribed_all", 17: "removed"}


def people(n: int) -> list[Person]:
    """A deterministic mix of consents, suppressions and locales."""
    out = []
    for i in range(1, n + 1):
        out.append(
            Person(
                n=i,
                email=f"person{i}@example.org",
                locale="ru" if i % 3 == 0 else "en",
                promotional=False if i % 5 == 0 else (True if i % 4 == 0 else None),
                partner=True if i % 6 == 0 else (False if i % 10 == 0 else None),
                suppressed=SUPPRESSED.get(i % 19),
            )
        )
    return out


def seed(app: Flask, audience: Iterable[Person]) -> dict[str, int]:
    """Insert contacts, preferences and suppressions in bulk; return address → contact id."""
    key = app.config["SETTINGS"].address_hash_key
    now = utcnow()
    ids: dict[str, int] = {}
    with app.app_context():
        for p in audience:
            h = address_hash(p.email, key)
            cid = db.session.execute(
                insert(Contact.__table__)
                .values(
                    public_id=secrets.token_urlsafe(16),
                    user_id=f"user-{p.n}",
                    email=vault().seal_address("contacts.email", p.email, h),
                    email_hash=h,
                    locale=p.locale,
                    name=f"Person{p.n} Example",
                    time_zone=p.time_zone,
                    created_at=now,
                    updated_at=now,
                )
                .returning(Contact.__table__.c.id)
            ).scalar_one()
            ids[p.email] = int(cid)
            for category, granted in (
                ("promotional", p.promotional),
                ("partner_offers", p.partner),
            ):
                if granted is not None:
                    db.session.execute(
                        insert(Preference.__table__).values(
                            contact_id=cid, category=category, granted=granted, updated_at=now
                        )
                    )
            if p.suppressed:
                db.session.execute(
                    insert(Suppression.__table__).values(
                        email_hash=h, reason=p.suppressed, created_at=now
                    )
                )
        db.session.commit()
    return ids


BODY = (
    "# New filters, {{ first_name }}\n\nTry them in the app. [Preferences]({{ preferences_url }})\n"
)


def make_campaign(
    app: Flask,
    *,
    category: str = "promotional",
    locale: str | None = None,
    partner_name: str | None = None,
    rate_per_second: int | None = None,
    subject: str = "News for {{ first_name }}",
) -> int:
    """A campaign with English and Russian content, saved (compiled) and ready to send."""
    who = actor(app)
    with app.app_context():
        campaign = lifecycle.create(
            db.session,
            who,
            name="Winter filters",
            category=category,
            partner_name=partner_name,
            locale=locale,
            rate_per_second=rate_per_second,
        )
        for loc, words in (("en", subject), ("ru", "Новости для {{ first_name }}")):
            draft = Draft(subject=words, preheader="Fresh", body=BODY, body_format="markdown")
            compiled = content.compile_locale(app, campaign, loc, draft, sample={})
            lifecycle.save_content(db.session, campaign, who, loc, draft, content.stored(compiled))
        db.session.commit()
        return campaign.id


def step(app: Flask, campaign_id: int, do: Callable[[Campaign], T]) -> T:
    """Take a lifecycle step on a campaign, as the console does, and commit; return what the
    step returned."""
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        result = do(campaign)
        db.session.commit()
        db.session.remove()
    return result


def _start(app: Flask, campaign_id: int) -> None:
    """Start the campaign as staff would, and commit (inside an app context)."""
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign is not None
    lifecycle.send_now(db.session, campaign, actor(app), app.config["SETTINGS"])
    db.session.commit()


def send_now(app: Flask, campaign_id: int) -> None:
    """What the console's "send now" does: start it, and enqueue its planner after commit."""
    with app.app_context():
        _start(app, campaign_id)
        jobs.enqueue_plan(campaign_id)


def start_and_plan(app: Flask, campaign_id: int, *, whole: bool = False) -> None:
    """Start the campaign and run its planner here, so its ledger rows exist on return: the
    first batch's, or with `whole` every batch's (the planner plans in time slices, so as many
    runs as it takes to finish, however slow the machine is)."""
    with app.app_context():
        _start(app, campaign_id)
        jobs.plan_campaign(campaign_id)
        while whole and not _planning_done(campaign_id):
            jobs.plan_campaign(campaign_id)
        db.session.remove()


def _planning_done(campaign_id: int) -> bool:
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign_id)
    return campaign is not None and campaign.planning_done


def ledger(app: Flask, campaign_id: int) -> dict[int | None, str]:
    """contact id → delivery status."""
    with app.app_context():
        rows = db.session.execute(
            db.select(CampaignDelivery.contact_id, CampaignDelivery.status).where(
                CampaignDelivery.campaign_id == campaign_id
            )
        ).all()
        db.session.remove()
    return {cid: status for cid, status in rows}


def status(app: Flask, campaign_id: int) -> str:
    """The campaign's status now."""
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        found = campaign.status
        db.session.remove()
        return found


def received(sink: SMTPSink) -> Counter[str]:
    """How many messages reached each recipient."""
    return Counter(rcpt for m in sink.messages for rcpt in m.rcpt_tos)


def expected(
    audience: list[Person], category: str = "promotional", locale: str | None = None
) -> set[str]:
    """Who the rules say should get it."""
    return {p.email for p in audience if p.gets(category, locale)}


def burst(app: Flask) -> None:
    """One real burst worker process over both queues."""
    done = worker_process(app.config["SETTINGS"], "--queues", "mail,campaigns")
    assert done.returncode == 0, done.stderr[-3000:]


def tick(app: Flask) -> None:
    """What the scheduler does every few seconds."""
    with app.app_context():
        jobs.campaign_tick()


def until_done(app: Flask, campaign_id: int, rounds: int = 10) -> None:
    """Burst workers and ticks until the campaign is done (what the scheduler keeps doing)."""
    for _ in range(rounds):
        burst(app)
        if status(app, campaign_id) == "done":
            return
        time.sleep(0.3)
        tick(app)
    raise AssertionError(f"campaign still {status(app, campaign_id)}")
