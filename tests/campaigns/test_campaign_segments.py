"""A campaign to a segment, as the SMTP server sees it: exactly the contacts whose attributes
match when their message is due, once each, whatever changed after planning."""

from __future__ import annotations

from collections import Counter

from flask import Flask
from sqlalchemy import func, select

from invites.accounts.models import Contact
from invites.campaigns import lifecycle, planner, segments
from invites.campaigns.models import Campaign
from invites.core.db import db

from ..support.campaigns import (
    actor,
    expected,
    ledger,
    make_campaign,
    people,
    received,
    seed,
    start_and_plan,
    step,
    until_done,
)
from ..support.helpers import auth, new_key
from ..support.segments import attributes_of, give_attributes
from ..support.smtpd import SMTPSink


def _matches(attrs: dict[str, str | None]) -> bool:
    """German Pro or Plus owners who signed up after 10 January."""
    signed = attrs["signed_up_on"]
    return (
        attrs["country"] == "DE"
        and attrs["plan"] in ("pro", "plus")
        and signed is not None
        and signed > "2026-01-10"
    )


WINTER = segments.Segment(
    "all",
    (
        segments.condition("country", "equals", ["de"]),
        segments.condition("plan", "one_of", ["pro", "plus"]),
        segments.condition("signed_up_on", "after", ["2026-01-10"]),
    ),
)


def test_a_segment_reaches_who_matches_at_send_time_once_each(
    camp: Flask, smtp_sink: SMTPSink
) -> None:
    audience = people(300)
    ids = seed(camp, audience)
    give_attributes(camp, ids, audience)
    attrs = {p.email: attributes_of(p) for p in audience}
    campaign_id = make_campaign(camp)
    step(
        camp,
        campaign_id,
        lambda c: lifecycle.update_settings(db.session, c, actor(camp), segment=WINTER.to_json()),
    )
    start_and_plan(camp, campaign_id)  # the first batch is planned, the rest is not yet
    planned = {cid for cid in ledger(camp, campaign_id)}
    by_id = {cid: email for email, cid in ids.items()}
    eligible = expected(audience)
    # The app backend changes two people after planning, through the API: one planned
    # contact moves to the free plan (no longer matches), one not yet planned one to Pro.
    left = next(p for p in audience if ids[p.email] in planned and p.email in eligible)
    joined = next(
        p
        for p in reversed(audience)
        if p.email in eligible
        and not _matches(attrs[p.email])
        and _matches(attrs[p.email] | {"plan": "pro"})
    )
    assert ids[joined.email] not in planned
    key = new_key(camp, ["contacts"])
    client = camp.test_client()
    for who, plan in ((left, "free"), (joined, "pro")):
        changed = attrs[who.email] | {"plan": plan}
        resp = client.put(
            f"/api/v1/contacts/user-{who.n}",
            json={
                "email": who.email,
                "locale": who.locale,
                "name": f"Person{who.n} Example",
                "attributes": changed,
            },
            headers=auth(key),
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)
        attrs[who.email] = changed

    until_done(camp, campaign_id)

    got = received(smtp_sink)
    want = {email for email in eligible if _matches(attrs[email])}
    assert len(want) > 40  # more than one batch
    assert set(got) == want
    assert max(got.values()) == 1
    assert left.email not in got and joined.email in got
    states = Counter(ledger(camp, campaign_id).values())
    # The one who left was planned, then skipped when due: counted, never mailed.
    assert states == {"sent": len(want), "skipped": 1}
    assert ledger(camp, campaign_id)[ids[left.email]] == "skipped"
    assert by_id[ids[joined.email]] == joined.email


def test_the_clause_counts_what_the_oracle_counts_for_all_any_before_and_exists(
    camp: Flask,
) -> None:
    audience = people(120)
    ids = seed(camp, audience)
    give_attributes(camp, ids, audience)
    cases = {
        segments.Segment(
            "any",
            (
                segments.condition("plan", "equals", ["free"]),
                segments.condition("signed_up_on", "before", ["2026-01-20"]),
            ),
        ): lambda a: (
            a["plan"] == "free"
            or (a["signed_up_on"] is not None and a["signed_up_on"] < "2026-01-20")
        ),
        segments.Segment("all", (segments.condition("signed_up_on", "exists"),)): lambda a: (
            a["signed_up_on"] is not None
        ),
        WINTER: _matches,
        segments.Segment(): lambda a: True,
    }
    with camp.app_context():
        settings = camp.config["SETTINGS"]
        for segment, oracle in cases.items():
            campaign = Campaign(category="promotional", locale=None, segment=segment.to_json())
            counted = planner.count_audience(db.session.connection(), campaign, settings)
            want = [p for p in audience if p.gets("promotional") and oracle(attributes_of(p))]
            assert counted == len(want), segment.describe()
            alone = db.session.scalar(
                select(func.count(Contact.id)).where(segments.clause(segment))
            )
            assert alone == len([p for p in audience if oracle(attributes_of(p))])
