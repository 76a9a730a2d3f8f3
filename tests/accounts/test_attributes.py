"""The attribute register's types: what each takes, how it is stored, how it compares."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from invites.accounts import contacts
from invites.accounts.attributes import ATTRIBUTES, Attribute, Kind, parse_all
from invites.accounts.models import Contact
from invites.campaigns import segments
from invites.core.db import db, utcnow

from ..support.campaigns import people, seed


def test_each_kind_takes_its_values_and_refuses_others() -> None:
    number = Attribute("cameras", Kind.NUMBER, "Cameras", "How many.", ("promotional_email",))
    flag = Attribute("beta", Kind.BOOLEAN, "Beta", "In the beta.", ("promotional_email",))
    assert number.parse(3) == number.parse(3.0) == "3" and number.parse(2.5) == "2.5"
    assert flag.parse(True) == "true" and flag.parse_text(" FALSE ") == "false"
    for attribute, bad in ((number, "3"), (number, True), (number, float("nan")), (flag, 1)):
        with pytest.raises(ValueError):
            attribute.parse(bad)
    values, errors = parse_all({"country": "fr", "plan": None, "signed_up_on": "2026-02-30"})
    assert values == {"country": "FR", "plan": None}
    assert errors == {"signed_up_on": "must be a date as YYYY-MM-DD"}
    assert "undeclared" in parse_all({"Country": "FR"})[1]["Country"]
    with pytest.raises(ValueError, match="two letters"):
        ATTRIBUTES["country"].parse("DEU")


def test_numbers_compare_as_numbers(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    # A number attribute declared for this test: 9 < 10 as numbers, though "9" > "10" as text.
    cameras = Attribute("cameras", Kind.NUMBER, "Cameras", "How many.", ("promotional_email",))
    monkeypatch.setitem(ATTRIBUTES, "cameras", cameras)
    audience = people(12)
    ids = seed(app, audience)
    with app.app_context():
        for p in audience:
            contact = db.session.get(Contact, ids[p.email])
            assert contact is not None
            contacts.set_attributes(db.session, contact, {"cameras": str(p.n)}, utcnow())
        db.session.commit()
        for op, bound, want in (("after", "9", 3), ("before", "10", 9), ("equals", "10", 1)):
            segment = segments.Segment("all", (segments.condition("cameras", op, [bound]),))
            found = db.session.scalar(
                select(func.count(Contact.id)).where(segments.clause(segment))
            )
            assert found == want, (op, bound)
        with pytest.raises(segments.SegmentError, match="no order"):
            segments.condition("plan", "after", ["pro"])
