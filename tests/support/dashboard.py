"""A console with something to show at a glance: feedback over 40 days, campaigns in every
state that needs someone, outbox rows, a queued job and data requests."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import time_machine
from flask import Flask
from sqlalchemy import insert, select, update

from invites.accounts import contacts
from invites.accounts.models import Contact
from invites.campaigns import jobs, lifecycle
from invites.campaigns.models import (
    Campaign,
    CampaignBatch,
    CampaignDelivery,
    CampaignStatus,
    Delivery,
)
from invites.core import queue
from invites.core.addresses import address_hash
from invites.core.db import db, utcnow
from invites.core.suppression import suppress
from invites.datarequests.models import DataRequest
from invites.delivery.models import OutboundMessage

from .campaigns import actor, make_campaign, people, seed, start_and_plan, step


def done_with_unknowns(app: Flask, name: str, unknown: int) -> int:
    """A campaign that sent to everyone it planned for, `unknown` of them without an answer."""
    campaign_id = make_campaign(app)
    start_and_plan(app, campaign_id, whole=True)
    now = utcnow()
    with app.app_context():
        ledger = CampaignDelivery.__table__
        db.session.execute(
            update(ledger)
            .where(ledger.c.campaign_id == campaign_id)
            .values(status="sent", sent_at=now)
        )
        first = db.session.scalars(
            select(ledger.c.id)
            .where(ledger.c.campaign_id == campaign_id)
            .order_by(ledger.c.id)
            .limit(unknown)
        ).all()
        db.session.execute(
            update(ledger)
            .where(ledger.c.id.in_(first))
            .values(status=Delivery.UNKNOWN, reason="no reply after data")
        )
        db.session.execute(
            update(CampaignBatch)
            .where(CampaignBatch.campaign_id == campaign_id)
            .values(status="done")
        )
        db.session.execute(update(Campaign).where(Campaign.id == campaign_id).values(name=name))
        db.session.commit()
        assert jobs.finish_if_done(campaign_id)
        db.session.remove()
    return campaign_id


def world(app: Flask) -> dict[str, int]:
    """Feedback over 40 days, campaigns in every state that needs someone, outbox rows, a
    queued job and data requests; return the campaigns' ids."""
    audience = people(20)
    ids = seed(app, audience)
    settings = app.config["SETTINGS"]
    key = settings.address_hash_key
    now = utcnow()
    with app.app_context():
        for n, days, source in (
            (1, 2, "preference_page"),
            (2, 6, "one_click"),
            (3, 20, "app"),
            (4, 1, "complaint"),
        ):
            contact = db.session.get(Contact, ids[f"person{n}@example.org"])
            assert contact is not None
            contacts.withdraw_marketing(
                db.session, contact, source, settings, now - timedelta(days=days)
            )
        for address, reason, days in (
            ("dead1@example.net", "hard_bounce", 3),
            ("dead2@example.net", "hard_bounce", 25),
            ("angry1@example.net", "complaint", 1),
            ("angry2@example.net", "complaint", 40),
        ):
            suppress(db.session, address_hash(address, key), reason, now - timedelta(days=days))
        for kind, status, attempts, days in (
            ("invitation", "pending", 0, 0),
            ("invitation", "pending", 0, 0),
            ("service", "pending", 2, 0),
            ("invitation", "failed", 1, 1),
            ("invitation", "failed", 1, 10),
            ("service", "unknown", 1, 2),
        ):
            db.session.execute(
                insert(OutboundMessage.__table__).values(
                    kind=kind,
                    status=status,
                    attempts=attempts,
                    next_attempt_at=now - timedelta(days=days),
                    created_at=now - timedelta(days=days),
                )
            )
        for status, days in (("sent", 40), ("sent", 0), ("opened", 0)):
            db.session.execute(
                insert(DataRequest.__table__).values(
                    public_id=secrets.token_hex(8),
                    email_hash=secrets.token_hex(32),
                    source="self",
                    status=status,
                    locale="en",
                    created_at=now - timedelta(days=days),
                )
            )
        db.session.commit()
        db.session.remove()
    queue.queue("mail", app).enqueue("invites.delivery.jobs.deliver_message", 10**9)

    found = {"done": done_with_unknowns(app, "Autumn results", 2)}
    found["itself"] = make_campaign(app)
    start_and_plan(app, found["itself"])
    with app.app_context():
        lifecycle.pause_for_failures(found["itself"], 5)
    found["held"] = make_campaign(app)
    found["scheduled"] = make_campaign(app)
    for which in ("held", "scheduled"):
        step(
            app,
            found[which],
            lambda c: lifecycle.schedule(
                db.session, c, actor(app), settings, at=now + timedelta(days=1)
            ),
        )
    # The service was down for three days: the next tick holds what was due meanwhile.
    with app.app_context():
        db.session.execute(
            update(Campaign)
            .where(Campaign.id == found["scheduled"])
            .values(scheduled_at=now + timedelta(days=5), name="Spring teaser")
        )
        db.session.execute(
            update(Campaign).where(Campaign.id == found["held"]).values(name="Late winter")
        )
        db.session.commit()
        with time_machine.travel(datetime.now(UTC) + timedelta(days=3), tick=True):
            jobs.campaign_tick()
        db.session.remove()
    with app.app_context():
        assert db.session.get(Campaign, found["held"]).status == CampaignStatus.HELD  # type: ignore[union-attr]
        db.session.remove()
    return found
