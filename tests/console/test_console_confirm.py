"""Safety rails: Send now, Schedule and Cancel ask first (how many people, which category,
when; above a size the count is typed); unschedule, duplicate, delete a draft, archive; the
campaign list searched, filtered and paged."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page
from sqlalchemy import select

from invites.campaigns import lifecycle, segments
from invites.campaigns.models import Campaign, CampaignContent, CampaignStatus
from invites.core import audit
from invites.core.config import Settings
from invites.core.db import db, utcnow
from invites.staff import Role

from ..support.browser import sign_in as sign_in_page
from ..support.campaigns import actor, expected, make_campaign, people, seed, step
from ..support.helpers import make_app
from ..support.segments import give_attributes
from ..support.servers import serve
from ..support.staff import make_staff, page_fields, sign_in, signed_in


def _status(app: Flask, campaign_id: int) -> str | None:
    with app.app_context():
        found = db.session.get(Campaign, campaign_id)
        status = found.status if found else None
        db.session.remove()
    return status


def _unconfirmed(client: FlaskClient, campaign_id: int, step_name: str, **data: str) -> str:
    """Post a step as its button does (no confirmation yet); return the page that answers."""
    page = f"/console/campaigns/{campaign_id}"
    fields = {k: v for k, v in page_fields(client, page).items() if k != "confirmed"}
    answer = client.post(f"{page}/{step_name}", data={**fields, **data})
    assert answer.status_code == 200, answer.text[-500:]
    return answer.text


def _hidden(page: str) -> dict[str, str]:
    """The fields the confirmation page's form posts (as the browser would)."""
    form = page.split('id="confirm-form"')[1].split("</form>")[0]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def test_send_now_asks_first_and_states_who_what_when(app: Flask) -> None:
    audience = people(30)
    seed(app, audience)
    campaign_id = make_campaign(app)
    client = signed_in(app, "mia@example.com", Role.MARKETING)
    asked = _unconfirmed(client, campaign_id, "send")
    assert _status(app, campaign_id) == CampaignStatus.DRAFT  # nothing changed yet
    count = len(expected(audience))
    assert f'<dd id="confirm-count">{count}</dd>' in asked
    assert '<dd id="confirm-category">Promotions</dd>' in asked
    assert '<dd id="confirm-when">now</dd>' in asked
    assert 'id="typed-count"' not in asked  # small: a click confirms
    done = client.post(f"/console/campaigns/{campaign_id}/send", data=_hidden(asked))
    assert done.status_code == 303
    assert _status(app, campaign_id) == CampaignStatus.SENDING


def test_above_the_size_the_count_is_typed(app: Flask, settings: Settings) -> None:
    audience = people(30)
    strict = make_app(dataclasses.replace(settings, campaign_confirm_typed_above=5))
    seed(strict, audience)
    campaign_id = make_campaign(strict)
    client = signed_in(strict, "mia@example.com", Role.MARKETING)
    count = len(expected(audience))
    asked = _unconfirmed(client, campaign_id, "cancel")
    assert 'id="typed-count"' in asked and f"type the number of people: {count}" in asked
    hidden = _hidden(asked)
    for wrong in ("", "5", "1000", "twelve"):
        again = client.post(
            f"/console/campaigns/{campaign_id}/cancel", data={**hidden, "typed_count": wrong}
        )
        assert again.status_code == 400 and 'id="error-typed_count"' in again.text
        assert f'value="{wrong}"' in again.text  # what was typed is kept
        assert _status(strict, campaign_id) == CampaignStatus.DRAFT
    done = client.post(
        f"/console/campaigns/{campaign_id}/cancel", data={**hidden, "typed_count": f" {count} "}
    )
    assert done.status_code == 303 and _status(strict, campaign_id) == CampaignStatus.CANCELLED


def test_schedule_asks_with_the_time_in_the_viewers_zone(app: Flask) -> None:
    seed(app, people(10))
    campaign_id = make_campaign(app)
    make_staff(app, "msk@example.com", Role.MARKETING, time_zone="Europe/Moscow")
    client = app.test_client()
    sign_in(client, "msk@example.com")
    day = (utcnow() + timedelta(days=3)).date().isoformat()
    asked = _unconfirmed(client, campaign_id, "schedule", date=day, time="10:00", anchor="moment")
    assert f'<dd id="confirm-when">{day} 10:00 MSK</dd>' in asked
    assert _status(app, campaign_id) == CampaignStatus.DRAFT
    hidden = _hidden(asked)
    assert hidden["date"] == day and hidden["time"] == "10:00"  # the form is carried along
    done = client.post(f"/console/campaigns/{campaign_id}/schedule", data=hidden)
    assert done.status_code == 303 and _status(app, campaign_id) == CampaignStatus.SCHEDULED


def test_a_step_that_cant_be_taken_is_refused_without_asking(app: Flask) -> None:
    campaign_id = make_campaign(app)
    client = signed_in(app, "mia@example.com", Role.MARKETING)
    page = f"/console/campaigns/{campaign_id}"
    stale = {k: v for k, v in page_fields(client, page).items() if k != "confirmed"}
    step(app, campaign_id, lambda c: lifecycle.cancel(db.session, c, actor(app)))
    refused = client.post(f"{page}/send", data=stale)
    assert refused.status_code == 409 and "confirm-form" not in refused.text
    assert "changed since your page was loaded" in refused.text


def test_unschedule_duplicate_delete_and_archive(app: Flask) -> None:
    seed(app, people(10))
    campaign_id = make_campaign(app, subject="Winter {{ first_name }}")
    client = signed_in(app, "mia@example.com", Role.MARKETING)
    page = f"/console/campaigns/{campaign_id}"
    at = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    step(
        app,
        campaign_id,
        lambda c: lifecycle.schedule(db.session, c, actor(app), app.config["SETTINGS"], at=at),
    )
    assert 'id="unschedule"' in client.get(page).text
    back = client.post(f"{page}/unschedule", data=page_fields(client, page))
    assert back.status_code == 303 and _status(app, campaign_id) == CampaignStatus.DRAFT
    with app.app_context():
        assert db.session.get(Campaign, campaign_id).scheduled_at is None  # type: ignore[union-attr]

    copied = client.post(f"{page}/duplicate", data=page_fields(client, page))
    assert copied.status_code == 303
    copy_id = int(copied.headers["Location"].rsplit("/", 1)[1])
    assert copy_id != campaign_id
    with app.app_context():
        copy = db.session.get(Campaign, copy_id)
        assert copy is not None and copy.name.startswith("Copy of ")
        assert copy.status == CampaignStatus.DRAFT and copy.approved_version is None
        subjects = {
            c.locale: c.subject
            for c in db.session.scalars(
                db.select(CampaignContent).where(CampaignContent.campaign_id == copy_id)
            )
        }
        assert subjects["en"] == "Winter {{ first_name }}" and set(subjects) == {"en", "ru"}

    copy_page = f"/console/campaigns/{copy_id}"
    fields = {k: v for k, v in page_fields(client, copy_page).items() if k != "confirmed"}
    asked = client.post(f"{copy_page}/delete", data=fields)
    assert asked.status_code == 200 and "Delete the draft" in asked.text
    assert _status(app, copy_id) == CampaignStatus.DRAFT
    gone = client.post(f"{copy_page}/delete", data=_hidden(asked.text))
    assert gone.status_code == 303 and _status(app, copy_id) is None
    assert client.get(copy_page).status_code == 404

    # A campaign that ran can't be deleted, only archived once finished.
    step(
        app,
        campaign_id,
        lambda c: lifecycle.send_now(db.session, c, actor(app), app.config["SETTINGS"]),
    )
    assert client.post(f"{page}/delete", data=page_fields(client, page)).status_code == 409
    step(app, campaign_id, lambda c: lifecycle.cancel(db.session, c, actor(app)))
    assert client.post(f"{page}/archive", data=page_fields(client, page)).status_code == 303
    listed = client.get("/console/campaigns").text
    assert f'data-campaign="{campaign_id}"' not in listed
    archived = client.get("/console/campaigns?archived=1").text
    assert f'data-campaign="{campaign_id}"' in archived
    assert client.post(f"{page}/unarchive", data=page_fields(client, page)).status_code == 303
    assert f'data-campaign="{campaign_id}"' in client.get("/console/campaigns").text
    with app.app_context():
        steps = [e.action for e in audit.events_for(db.session, "campaign", campaign_id)]
        deleted = [e.action for e in audit.events_for(db.session, "campaign", copy_id)]
    for action in ("unschedule", "duplicate", "archive", "unarchive"):
        assert f"campaign.{action}" in steps
    assert deleted[0] == "campaign.delete"  # the history outlives the draft


def _seasonal(app: Flask, count: int, name: str, partner: Callable[[int], bool]) -> None:
    """`count` draft campaigns, "Winter <name> <n>" for odd n and "Spring <name> <n>" for
    even n: partner offers (for Lens Co) where `partner(n)`, promotions otherwise."""
    who = actor(app)
    with app.app_context():
        for n in range(count):
            lifecycle.create(
                db.session,
                who,
                name=f"{'Winter' if n % 2 else 'Spring'} {name} {n}",
                category="partner_offers" if partner(n) else "promotional",
                partner_name="Lens Co" if partner(n) else None,
            )
        db.session.commit()


def test_the_list_searches_filters_and_pages(app: Flask) -> None:
    client = signed_in(app, "mia@example.com", Role.MARKETING)
    _seasonal(app, 30, "100% offer", lambda n: n % 5 == 0)
    first = client.get("/console/campaigns")
    assert "30 campaigns · page 1 of 2" in first.text
    assert first.text.count("data-campaign=") == 25
    second = client.get("/console/campaigns?page=2").text
    assert second.count("data-campaign=") == 5 and 'rel="prev"' in second
    winter = client.get("/console/campaigns?name=WINTER").text
    assert "15 campaigns" in winter and "Spring" not in winter.split('id="campaigns"')[1]
    assert "30 campaigns" in client.get("/console/campaigns?name=100%25").text  # literal %
    partners = client.get("/console/campaigns?category=partner_offers").text
    assert "6 campaigns" in partners and "Partner offers" in partners
    assert "No campaign matches." in client.get("/console/campaigns?status=sending").text
    bad = client.get("/console/campaigns?status=bogus&since=tomorrow&name=<x>")
    assert bad.status_code == 400
    assert 'id="error-status"' in bad.text and 'id="error-since"' in bad.text
    assert 'value="tomorrow"' in bad.text and 'value="&lt;x&gt;"' in bad.text
    today = utcnow().date().isoformat()
    assert "30 campaigns" in client.get(f"/console/campaigns?since={today}&until={today}").text
    # A policy notice is a service campaign: the filter finds it by its category too.
    with app.app_context():
        notice = db.session.scalars(select(Campaign).order_by(Campaign.id)).first()
        assert notice is not None
        notice.category = "service"
        db.session.commit()
    service = client.get("/console/campaigns?category=service").text
    assert "1 campaign" in service and ">Service</option>" in service


def test_search_and_page_the_list_in_a_browser(live: tuple[Flask, str], page: Page) -> None:
    app, base = live
    _seasonal(app, 40, "offer", lambda n: n % 4 == 1)
    make_staff(app, "mia@example.com", Role.MARKETING)
    sign_in_page(page, base, "mia@example.com")
    page.goto(base + "/console/campaigns")
    assert page.inner_text("#campaign-count") == "40 campaigns · page 1 of 2"
    page.fill("#name", "winter")
    page.click("#campaign-filter button[type=submit]")
    assert page.inner_text("#campaign-count") == "20 campaigns"
    page.select_option("#category", "partner_offers")
    page.click("#campaign-filter button[type=submit]")
    assert page.inner_text("#campaign-count") == "10 campaigns"
    names = page.locator("#campaigns tbody tr td:first-child a").all_inner_texts()
    assert len(names) == 10 and all(n.startswith("Winter") for n in names)
    assert (
        page.locator("#campaigns tbody tr .muted")
        .first.inner_text()
        .startswith("Partner offers · for Lens Co")
    )
    # Paging keeps the search: clear the category, and the second page is still winter's.
    page.fill("#name", "offer")
    page.select_option("#category", "")
    page.click("#campaign-filter button[type=submit]")
    page.click("a[rel=next]")
    assert page.inner_text("#campaign-count") == "40 campaigns · page 2 of 2"
    assert page.locator("#campaigns tbody tr").count() == 15
    assert page.input_value("#name") == "offer"
    page.click("a[rel=prev]")
    assert page.inner_text("#campaign-count") == "40 campaigns · page 1 of 2"
    # A day that can't be read is marked at its field, with everything typed kept.
    page.evaluate("document.getElementById('since').type = 'text'")
    page.fill("#since", "31/12/2026")
    page.click("#campaign-filter button[type=submit]")
    assert "YYYY-MM-DD" in page.inner_text("#error-since")
    assert page.get_attribute("#since", "aria-invalid") == "true"
    # Kept in the page as typed (a date picker shows a value it can't read as empty).
    assert page.get_attribute("#since", "value") == "31/12/2026"
    assert page.input_value("#name") == "offer"
    # A row leads to its campaign.
    page.goto(base + "/console/campaigns?name=Spring+offer+0")
    page.click("#campaigns tbody tr:first-child a")
    assert page.inner_text("h1").startswith("Spring offer 0")


def test_confirm_in_a_browser(app: Flask, settings: Settings, page: Page) -> None:
    with serve(settings, campaign_confirm_typed_above=3) as (live, base):
        audience = people(12)
        seed(live, audience)
        campaign_id = make_campaign(live)
        make_staff(live, "mia@example.com", Role.MARKETING)
        sign_in_page(page, base, "mia@example.com")
        page.goto(f"{base}/console/campaigns/{campaign_id}")
        page.click("#cancel")
        count = len(expected(audience))
        assert page.inner_text("#confirm-count") == str(count)
        assert page.inner_text("#confirm-title").startswith("Cancel")
        page.fill("#typed-count", str(count + 1))
        page.click("#confirm-step")
        assert "Type the number shown" in page.inner_text("#error-typed_count")
        assert _status(live, campaign_id) == CampaignStatus.DRAFT
        page.click("#go-back")
        assert page.inner_text("#status") == "draft"
        page.click("#cancel")
        page.fill("#typed-count", str(count))
        page.click("#confirm-step")
        assert page.inner_text("#status") == "cancelled"
        assert "Cancelled." in page.inner_text("main")


def test_a_small_segmented_audience_is_blurred_on_the_confirmation(app: Flask) -> None:
    audience = people(12)
    ids = seed(app, audience)
    give_attributes(app, ids, audience)
    campaign_id = make_campaign(app)
    # Germans on the free plan with a sign-up date: a handful of this audience.
    few = segments.Segment(
        "all",
        (
            segments.condition("country", "equals", ["de"]),
            segments.condition("plan", "equals", ["free"]),
        ),
    )
    step(
        app,
        campaign_id,
        lambda c: lifecycle.update_settings(db.session, c, actor(app), segment=few.to_json()),
    )
    client = signed_in(app, "mia@example.com", Role.MARKETING)
    asked = _unconfirmed(client, campaign_id, "send")
    assert '<dd id="confirm-count">fewer than 5</dd>' in asked
    assert "Send to fewer than 5 people now" in asked
    assert 'id="typed-count"' not in asked
    done = client.post(f"/console/campaigns/{campaign_id}/send", data=_hidden(asked))
    assert done.status_code == 303 and _status(app, campaign_id) == CampaignStatus.SENDING
