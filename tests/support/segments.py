"""Attributes for seeded people, decided by rules written apart from the service's SQL."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Flask

from invites.accounts import contacts
from invites.accounts.models import Contact
from invites.core.db import db, utcnow

from .campaigns import Person

START = date(2026, 1, 1)


def attributes_of(p: Person) -> dict[str, str | None]:
    """The oracle's attributes for a seeded person."""
    return {
        "country": "DE" if p.n % 2 == 0 else "FR",
        "plan": ("pro", "plus", "free")[p.n % 3],
        # Unknown for every fifth person.
        "signed_up_on": None if p.n % 5 == 1 else (START + timedelta(days=p.n)).isoformat(),
    }


def give_attributes(app: Flask, ids: dict[str, int], audience: list[Person]) -> None:
    """Store each person's attributes, as the API would."""
    with app.app_context():
        for p in audience:
            contact = db.session.get(Contact, ids[p.email])
            assert contact is not None
            contacts.set_attributes(db.session, contact, attributes_of(p), utcnow())
        db.session.commit()
