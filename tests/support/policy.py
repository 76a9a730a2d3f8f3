"""Helpers for policy-version stories: publish a version as an admin would, on a chosen day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import time_machine
from flask import Flask
from sqlalchemy import update

from invites.core.db import db, utcnow
from invites.privacy import publishing
from invites.privacy.models import PolicyVersion
from invites.staff import Role, StaffUser, users

#: The label migration 0011 (and clear_tables) records: PRIVACY_POLICY_VERSION's default.
INITIAL = "2026-01"


def admin(app: Flask, email: str = "dpo@example.com") -> StaffUser:
    """An admin (created on first use), loaded in the current app context."""
    user = users.find_by_email(db.session, email)
    if user is None:
        user = users.create_user(
            db.session, email, "a long test password", Role.ADMIN, now=utcnow()
        )
        db.session.commit()
    return user


def draft(
    label: str,
    effective_on: date,
    *,
    material: bool = False,
    partner: bool = False,
    body: str = "# SpotCam privacy policy\n\nWhat we hold, and why.",
) -> publishing.Draft:
    """A complete draft, with text and a summary in every language."""
    return publishing.Draft(
        label=label,
        effective_on=effective_on,
        material=material or partner,
        changes_partner_sharing=partner,
        bodies={"en": body, "ru": "# Политика SpotCam\n\nЧто мы храним и зачем."},
        summaries={"en": f"What changed in {label}.", "ru": f"Что изменилось в {label}."},
    )


def begin_archive(app: Flask, days_ago: int) -> None:
    """Let the archive have begun `days_ago` days ago (the initial version in force since)."""
    with app.app_context():
        db.session.execute(
            update(PolicyVersion)
            .where(PolicyVersion.label == INITIAL)
            .values(effective_on=utcnow().date() - timedelta(days=days_ago))
        )
        db.session.commit()
        db.session.remove()


def publish(
    app: Flask,
    label: str,
    effective_in_days: int,
    *,
    published_days_ago: int = 0,
    material: bool = False,
    partner: bool = False,
) -> int:
    """Create and publish a version `published_days_ago` days ago, taking effect
    `effective_in_days` days from today (the clock moves there and back); return its id."""
    today = utcnow().date()
    at = datetime.combine(today - timedelta(days=published_days_ago), datetime.min.time())
    with app.app_context():
        boss = admin(app)
        settings = app.config["SETTINGS"]
        effective = today + timedelta(days=effective_in_days)
        with time_machine.travel(at.replace(hour=9, tzinfo=UTC), tick=False):
            now = utcnow()
            version = publishing.create(
                db.session,
                draft(label, effective, material=material, partner=partner),
                settings,
                boss,
                now,
            )
            publishing.publish(db.session, version.id, settings, boss, now)
            db.session.commit()
            version_id = version.id
        db.session.remove()
    return version_id
