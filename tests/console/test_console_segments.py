"""Audience conditions through the console's forms: the count endpoint says a number and
nothing else, a conditions change voids an approval, and GET changes nothing."""

from __future__ import annotations

from flask import Flask

from invites.campaigns import lifecycle, segments
from invites.campaigns.models import Campaign
from invites.core import audit
from invites.core.db import db

from ..support.campaigns import actor, make_campaign, people, seed, step
from ..support.helpers import ROOT
from ..support.segments import give_attributes
from ..support.staff import post_form, signed_in


def test_the_count_endpoint_answers_a_count_only(app: Flask) -> None:
    audience = people(40)
    give_attributes(app, seed(app, audience), audience)
    client = signed_in(app, "mia@example.com")
    query = {
        "category": "promotional",
        "match": "all",
        "cond-0-attribute": "country",
        "cond-0-op": "equals",
        "cond-0-value": "de",
    }
    got = client.get("/console/campaigns/audience-count", query_string=query)
    assert got.status_code == 200
    body = got.get_json()
    assert set(body) == {"count"} and body["count"].isdigit()
    assert "example.org" not in got.text and "Person" not in got.text
    tiny = client.get(
        "/console/campaigns/audience-count",
        query_string=query
        | {"cond-1-attribute": "signed_up_on", "cond-1-op": "before", "cond-1-value": "2026-01-03"},
    )
    assert tiny.get_json() == {"count": "fewer than 5"}
    bad = client.get(
        "/console/campaigns/audience-count",
        query_string=query | {"cond-0-op": "before"},
    )
    assert bad.status_code == 422 and "no order" in bad.get_json()["problems"]["cond-0"]
    # Signed out: no count at all.
    assert app.test_client().get("/console/campaigns/audience-count").status_code in (302, 401)


def test_a_conditions_change_voids_the_approval(app: Flask) -> None:
    campaign_id = make_campaign(app)
    other = actor(app, "leo@example.com")
    step(app, campaign_id, lambda c: lifecycle.approve(db.session, c, other))
    client = signed_in(app, "mia@example.com")
    page = f"/console/campaigns/{campaign_id}"
    saved = post_form(
        client,
        f"/console/campaigns/{campaign_id}/settings",
        {
            "name": "Winter filters",
            "category": "promotional",
            "match": "any",
            "cond-0-attribute": "plan",
            "cond-0-op": "one_of",
            "cond-0-value": "pro, plus",
        },
        page,
    )
    assert saved.status_code == 303, saved.text
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        assert campaign.approved_version is None
        assert segments.load(campaign.segment).describe() == "Plan is one of pro, plus"
        db.session.remove()


def test_a_saved_segment_is_saved_replaced_and_deleted_and_audited(app: Flask) -> None:
    from invites.campaigns.models import SavedSegment

    campaign_id = make_campaign(app)
    client = signed_in(app, "mia@example.com")
    page = f"/console/campaigns/{campaign_id}"
    fields = {
        "name": "Winter filters",
        "category": "promotional",
        "match": "all",
        "cond-0-attribute": "country",
        "cond-0-op": "equals",
        "cond-0-value": "de",
        "segment_name": "Germany",
    }
    assert post_form(client, page + "/segment/save", fields, page).status_code == 200
    again = fields | {"cond-0-value": "at"}
    assert post_form(client, page + "/segment/save", again, page).status_code == 200
    unnamed = post_form(client, page + "/segment/save", fields | {"segment_name": " "}, page)
    assert unnamed.status_code == 400 and "error-segment_name" in unnamed.text
    with app.app_context():
        saved = db.session.scalars(db.select(SavedSegment)).one()
        assert segments.load(saved.definition).describe() == "Country is AT"
        saved_id = saved.id
        db.session.remove()
    gone = post_form(client, page + "/segment/delete", {"saved_segment": str(saved_id)}, page)
    assert gone.status_code == 200 and "Deleted the saved segment" in gone.text
    with app.app_context():
        assert db.session.scalars(db.select(SavedSegment)).all() == []
        actions = [e.action for e in audit.events_for(db.session, "segment", saved_id)]
        db.session.remove()
    assert sorted(actions) == ["segment.delete", "segment.save", "segment.save"]


def test_the_readme_documents_every_attribute() -> None:
    from invites.accounts.attributes import ATTRIBUTES

    readme = (ROOT / "README.md").read_text()
    for name in ATTRIBUTES:
        assert f"| `{name}` |" in readme, name
