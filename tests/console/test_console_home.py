"""The console's home page per role, a campaign's results as CSV, the progress JSON with its
pace, all of a form's errors at once, and times with their zone; through the test client on
the real database and Redis."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import func, inspect, select, update

from invites.campaigns import lifecycle, ratelimit
from invites.campaigns.models import (
    Campaign,
    CampaignDelivery,
    Delivery,
)
from invites.core import audit, queue
from invites.core.db import db
from invites.staff import Role

from ..support.campaigns import actor, make_campaign, people, seed, start_and_plan, step
from ..support.dashboard import done_with_unknowns, world
from ..support.helpers import OwnRedis, make_app
from ..support.staff import make_staff, post_form, sign_in, signed_in

MARKETER = "mia@example.com"


def _card(page: str, card_id: str) -> str:
    """One card of the page, by id (up to the next card), or '' if the page has none."""
    start = page.find(f'id="{card_id}"')
    if start < 0:
        return ""
    end = page.find('<div class="card', start + 1)
    return page[start : end if end > 0 else len(page)]


def _cell(card: str, row_attr: str, part: str) -> str:
    found = re.search(rf'{row_attr}.*?{part}">([^<]*)<', card, re.S)
    assert found, (row_attr, part)
    return found.group(1)


def _state(app: Flask) -> tuple[int, int, list[datetime]]:
    with app.app_context():
        events = db.session.scalar(select(func.count()).select_from(audit.AuditEvent)) or 0
        updated = list(db.session.scalars(select(Campaign.updated_at).order_by(Campaign.id)))
        db.session.remove()
    return events, int(queue.connection(app).dbsize()), updated


def test_the_home_page_per_role_counts_only(app: Flask) -> None:
    found = world(app)
    admin = signed_in(app, "boss@example.com", Role.ADMIN)
    before = _state(app)
    page = admin.get("/console/")
    assert page.status_code == 200
    text = page.text
    assert _state(app) == before  # a GET changes nothing, in the database or in Redis
    assert "@example.org" not in text and "@example.net" not in text  # never a person

    attention = _card(text, "attention")
    kinds = re.findall(r'<li data-kind="([a-z_-]+)">', attention)
    assert sorted(kinds) == ["held", "overdue-requests", "paused_itself", "unknown"]
    assert f'href="/console/campaigns/{found["held"]}"' in attention
    assert f'href="/console/campaigns/{found["done"]}#results"' in attention
    assert "2 unknown outcomes to review" in attention
    assert "paused itself after 5 consecutive failed sends" in attention
    assert 'href="/console/privacy?overdue=1"' in attention

    under_way = _card(text, "under-way")
    rows = re.findall(r'<tr data-campaign="(\d+)">', under_way)
    # Paused before held before scheduled; nothing finished.
    assert rows == [str(found["itself"]), str(found["held"]), str(found["scheduled"])]
    assert "paused itself" in under_way and "not started" in under_way

    finished = _card(text, "finished")
    assert "Autumn results" in finished
    assert _cell(finished, f'data-campaign="{found["done"]}"', 'data-part="unknown') == "2"
    assert f"/console/campaigns/{found['done']}/results.csv" in finished

    feedback = _card(text, "feedback")
    # seed() suppressed person7 (hard bounce) and person11 (complaint) just now.
    for name, week, month in (
        ("unsubscribed", "2", "3"),
        ("bounced", "2", "3"),
        ("complained", "2", "2"),
    ):
        row = re.search(rf'data-feedback="{name}">.*?</tr>', feedback, re.S)
        assert row, name
        assert re.findall(r'data-days="\d+">(\d+)<', row.group(0)) == [week, month], name

    queues = _card(text, "queues")
    assert _cell(queues, 'data-queue="mail"', 'data-part="queued') == "1"
    assert _cell(queues, 'data-kind="invitation"', 'data-part="waiting') == "2"
    assert _cell(queues, 'data-kind="invitation"', 'data-part="failed') == "1"  # 10 days ago: out
    assert _cell(queues, 'data-kind="service"', 'data-part="retrying') == "1"
    assert _cell(queues, 'data-kind="service"', 'data-part="unknown') == "1"
    assert re.search(r'data-part="open">2<', _card(text, "requests"))

    marketing = signed_in(app, MARKETER, Role.MARKETING).get("/console/").text
    assert _card(marketing, "under-way") and _card(marketing, "finished")
    assert not _card(marketing, "queues") and not _card(marketing, "requests")
    assert "overdue-requests" not in _card(marketing, "attention")

    privacy = signed_in(app, "pia@example.com", Role.PRIVACY).get("/console/").text
    assert not _card(privacy, "under-way") and not _card(privacy, "queues")
    assert re.findall(r'<li data-kind="([a-z_-]+)">', _card(privacy, "attention")) == [
        "overdue-requests"
    ]
    assert _card(privacy, "feedback") and _card(privacy, "requests")


def test_the_home_page_says_when_redis_is_away(app: Flask, own_redis: OwnRedis) -> None:
    port, procs = own_redis
    away = make_app(app.config["SETTINGS"], redis_url=f"redis://127.0.0.1:{port}/0")
    seed(away, people(12))
    campaign_id = make_campaign(away)
    start_and_plan(away, campaign_id)  # sending: its rate is read from Redis
    admin = signed_in(away, "boss@example.com", Role.ADMIN)
    shown = admin.get("/console/").text
    assert 'id="rq-queues"' in shown and f'data-campaign="{campaign_id}"' in shown
    for proc in procs:
        proc.kill()
        proc.wait()
    page = admin.get("/console/")
    assert page.status_code == 200
    assert 'id="queues-down"' in page.text and 'id="under-way-down"' in page.text
    assert re.search(r'data-feedback="unsubscribed">', page.text)  # the rest still shows


def test_results_as_csv_counts_only_and_safe_in_a_spreadsheet(app: Flask) -> None:
    seed(app, people(20))
    campaign_id = done_with_unknowns(app, '=HYPERLINK("http://evil.example","Winter, \'24")', 3)
    with app.app_context():
        ledger = CampaignDelivery.__table__
        db.session.execute(
            update(ledger)
            .where(
                ledger.c.id.in_(
                    select(ledger.c.id)
                    .where(ledger.c.campaign_id == campaign_id, ledger.c.status == Delivery.SENT)
                    .limit(2)
                    .scalar_subquery()
                )
            )
            .values(status=Delivery.FAILED, reason='-5.1.1 mailbox unavailable, "quoted"')
        )
        db.session.commit()
        counts: dict[str, int] = dict(
            db.session.execute(
                select(ledger.c.status, func.count())
                .where(ledger.c.campaign_id == campaign_id)
                .group_by(ledger.c.status)
            ).all()
        )
        db.session.remove()
    client = signed_in(app, MARKETER)
    before = _state(app)
    response = client.get(f"/console/campaigns/{campaign_id}/results.csv")
    assert _state(app) == before
    assert response.status_code == 200 and response.mimetype == "text/csv"
    slug = "hyperlink-http-evil-example-winter-24"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="campaign-{campaign_id}-{slug}-results.csv"'
    )
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeffsection,item,count\r\n")
    assert "@example.org" not in body  # counts only
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    table = {(s, i): c for s, i, c in rows[1:]}
    # Quoted as CSV, and a formula start made text.
    assert table[("campaign", "name")] == '\'=HYPERLINK("http://evil.example","Winter, \'24")'
    assert table[("failure_reason", '\'-5.1.1 mailbox unavailable, "quoted"')] == "2"
    assert table[("outcome", "unknown")] == "3" and table[("outcome", "failed")] == str(
        counts["failed"]
    )
    assert table[("campaign", "category")] == "Promotions"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", table[("campaign", "started_at_utc")])
    [(hour, sent)] = [(i, c) for s, i, c in rows if s == "sent_per_hour_utc"]
    assert hour.endswith(":00:00Z") and sent == str(counts[Delivery.SENT])
    assert {i for s, i, c in rows if s == "attributed"} == {"unsubscribed", "complained", "bounced"}
    # Marketing and admins only, like every campaign page.
    privacy = signed_in(app, "pia@example.com", Role.PRIVACY)
    assert privacy.get(f"/console/campaigns/{campaign_id}/results.csv").status_code == 403


def test_the_progress_poll_carries_the_pace(app: Flask) -> None:
    seed(app, people(12))
    campaign_id = make_campaign(app, rate_per_second=2)
    client = signed_in(app, MARKETER)
    draft = client.get(f"/console/campaigns/{campaign_id}").text
    assert 'id="progress"' not in draft and 'id="results"' not in draft  # nothing to show yet
    assert 'id="when"' in draft
    start_and_plan(app, campaign_id, whole=True)
    starting = client.get(f"/console/campaigns/{campaign_id}/progress").get_json()
    assert (starting["state"], starting["rate"], starting["eta_basis"]) == (
        "starting",
        None,
        "limit",
    )
    assert starting["eta_seconds"] == max(1, round(starting["total"] / 2))  # at 2/s
    now = int(datetime.now(UTC).timestamp())
    ratelimit.count_sent(app, campaign_id, [now - 3, now - 2, now - 1, now - 1])
    sending = client.get(f"/console/campaigns/{campaign_id}/progress").get_json()
    assert sending["state"] == "sending" and sending["eta_basis"] == "rate"
    assert sending["rate"] >= 1.0 and sending["rate_window"] <= 4
    listed = client.get(f"/console/campaigns/progress?ids={campaign_id}").get_json()
    assert listed[str(campaign_id)]["state"] == "sending"
    step(app, campaign_id, lambda c: lifecycle.cancel(db.session, c, actor(app)))
    page = client.get(f"/console/campaigns/{campaign_id}").text
    assert "Still queued" not in page and "Not sent: cancelled first" in page
    assert 'data-part="eta"' not in page  # no time left once cancelled


def test_every_schedule_error_at_once_at_its_field(app: Flask) -> None:
    campaign_id = make_campaign(app)
    client = signed_in(app, MARKETER)
    path = f"/console/campaigns/{campaign_id}"
    refused = post_form(
        client,
        f"{path}/schedule",
        {"date": "31/12/2026", "time": "25:00", "anchor": "local", "default_zone": "Mars/Base"},
        path,
    )
    assert refused.status_code == 400
    errors = dict(
        re.findall(
            r'<p class="field-error" id="error-([a-z_]+)" role="alert">([^<]+)</p>', refused.text
        )
    )
    assert set(errors) == {"date", "time", "default_zone"}
    assert "YYYY-MM-DD" in errors["date"] and "HH:MM" in errors["time"]
    assert 'value="31/12/2026"' in refused.text and 'value="25:00"' in refused.text
    assert 'value="Mars/Base"' in refused.text


def test_audit_details_show_times_in_the_viewers_zone(app: Flask) -> None:
    make_staff(app, "msk@example.com", Role.MARKETING, time_zone="Europe/Moscow")
    client = app.test_client()
    assert sign_in(client, "msk@example.com").status_code == 302
    campaign_id = make_campaign(app)
    at = datetime(2030, 1, 15, 7, 0)
    step(
        app,
        campaign_id,
        lambda c: lifecycle.schedule(db.session, c, actor(app), app.config["SETTINGS"], at=at),
    )
    page = html.unescape(client.get(f"/console/campaigns/{campaign_id}").text)
    history = _card(page, "history")
    assert "at=2030-01-15 10:00 MSK" in history  # stored 07:00 UTC, shown in Moscow time
    assert "2030-01-15T07:00" not in history


def test_the_migration_creates_the_home_pages_indexes(app: Flask) -> None:
    with app.app_context():
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn)
            ours = ("ix_consent_events_created", "ix_suppressions_reason_created")
            diff = [
                d for d in compare_metadata(context, db.metadata) if any(n in repr(d) for n in ours)
            ]
            inspector = inspect(conn)
            names = {
                index["name"]
                for table in ("consent_events", "suppressions")
                for index in inspector.get_indexes(table)
            }
        db.session.remove()
    assert diff == []
    assert set(ours) <= names
