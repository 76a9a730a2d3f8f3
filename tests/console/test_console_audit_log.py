"""The audit log: search by who, what, which thing and when (days in the viewer's zone),
paging, field errors with what was typed kept, rows that link to their object; command-line
actions recorded with the operator's login name."""

from __future__ import annotations

import html
from datetime import datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page

from invites.campaigns.models import Campaign
from invites.core import audit
from invites.core.config import Settings
from invites.core.db import db
from invites.staff import Role

from ..support import spawn
from ..support.campaigns import make_campaign, people, seed, send_now
from ..support.helpers import env_for
from ..support.staff import PASSWORD, make_staff, sign_in, signed_in

START = datetime(2026, 11, 1, 12, 0)


def _events(
    app: Flask, count: int, action: str = "campaign.send", actor: str = "ann@example.com"
) -> None:
    """`count` events an hour apart from START, about campaigns 1, 2, 3 ... in turn."""
    with app.app_context():
        for n in range(count):
            audit.record(
                db.session,
                actor=audit.Operator(actor),
                action=action,
                target_type="campaign",
                target_id=n % 3 + 1,
                now=START + timedelta(hours=n),
            )
        db.session.commit()


def _rows(page: str) -> int:
    return page.count("<code>")


def test_filters_narrow_and_pages_follow(app: Flask) -> None:
    client: FlaskClient = signed_in(app, "boss@example.com", Role.ADMIN)
    _events(app, 120)
    _events(app, 5, action="api_key.created", actor="cli (deploy)")
    first = client.get("/console/audit?action=campaign.")
    assert first.status_code == 200
    assert "120 events match · page 1 of 3" in first.text and _rows(first.text) == 50
    # The pager keeps the filter; the last page holds the rest.
    older = html.unescape(first.text).split('rel="next" href="')[1].split('"')[0]
    assert "action=campaign." in older and "page=2" in older
    last = client.get("/console/audit?action=campaign.&page=3")
    assert _rows(last.text) == 20 and 'rel="next"' not in last.text and 'rel="prev"' in last.text
    # A page past the end shows the last one, not an empty table.
    assert _rows(client.get("/console/audit?action=campaign.&page=99").text) == 20
    who = client.get("/console/audit?actor=DEPLOY").text  # part of it, any case
    assert "5 events match" in who and "<code>campaign.send" not in who
    about = client.get("/console/audit?target_type=campaign&target_id=2").text
    assert "42 events match" in about  # 40 sends and 2 of the 5 key events
    # The row links to the campaign it is about.
    assert 'href="/console/campaigns/2"' in about
    # Typed text is literal: % and _ are no wildcards.
    assert "No event matches." in client.get("/console/audit?action=%25").text
    assert "No event matches." in client.get("/console/audit?action=campaign_send").text


def test_days_are_the_viewers_days(app: Flask) -> None:
    make_staff(app, "msk@example.com", Role.ADMIN, time_zone="Europe/Moscow")
    client = app.test_client()
    sign_in(client, "msk@example.com")
    # 20:30 and 21:30 UTC on 1 December are 23:30 on the 1st and 00:30 on the 2nd in Moscow.
    with app.app_context():
        for hour in (20, 21):
            audit.record(
                db.session,
                actor=audit.Operator("cli (ops)"),
                action=f"test.at_{hour}",
                target_type=None,
                target_id=None,
                now=datetime(2026, 12, 1, hour, 30),
            )
        db.session.commit()
    second = client.get("/console/audit?action=test.&since=2026-12-02&until=2026-12-02").text
    assert "test.at_21" in second and "test.at_20" not in second
    first = client.get("/console/audit?action=test.&until=2026-12-01").text
    assert "test.at_20" in first and "test.at_21" not in first


def test_bad_fields_are_marked_and_keep_what_was_typed(app: Flask) -> None:
    client: FlaskClient = signed_in(app, "boss@example.com", Role.ADMIN)
    refused = client.get("/console/audit?actor=<b>mia&since=yesterday&until=2026-01-01&page=-3")
    assert refused.status_code == 400
    page = refused.text
    assert 'id="error-since"' in page and "YYYY-MM-DD" in page
    assert 'id="since" name="since" value="yesterday" aria-invalid="true"' in page
    assert 'value="&lt;b&gt;mia"' in page and "<b>mia" not in page  # kept, escaped
    backwards = client.get("/console/audit?since=2026-02-01&until=2026-01-01")
    assert backwards.status_code == 400 and "comes before the first" in backwards.text
    long = client.get("/console/audit?action=" + "x" * 201)
    assert long.status_code == 400 and 'id="error-action"' in long.text


def test_command_line_actions_name_the_operator(app: Flask, settings: Settings) -> None:
    env = {**env_for(settings), "LOGNAME": "deploy-op", "USER": "deploy-op"}

    def invites(*args: str, stdin: str = "") -> str:
        done = spawn.run(args, env=env, input=stdin, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    secret = invites("api-keys", "create", "backend", "--scope", "invitations").strip()
    prefix = secret.split("_")[1]
    invites("api-keys", "revoke", prefix)
    invites("api-keys", "revoke", prefix)  # again: nothing changes, nothing recorded
    invites(
        "users",
        "create",
        "mia@example.com",
        "--role",
        "marketing",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    invites("users", "disable", "mia@example.com")
    with app.app_context():
        found = [(e.action, e.actor, e.details.get("via")) for e in audit.recent(db.session)]
    assert sorted(found) == sorted(
        [
            ("api_key.created", "cli (deploy-op)", "cli"),
            ("api_key.revoked", "cli (deploy-op)", "cli"),
            ("staff.created", "cli (deploy-op)", "cli"),
            ("staff.disabled", "cli (deploy-op)", None),
        ]
    )
    assert secret not in str(found)


def test_a_pause_at_the_command_line_is_a_persons_pause(app: Flask, settings: Settings) -> None:
    env = {**env_for(settings), "LOGNAME": "deploy-op", "USER": "deploy-op"}
    seed(app, people(3))
    campaign_id = make_campaign(app)
    send_now(app, campaign_id)
    done = spawn.run(["campaigns", "pause", str(campaign_id)], env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "paused"
        # Who paused it, as the console words it: the home page shows a person's pause, not
        # a campaign that paused itself.
        assert campaign.paused_reason == "paused by cli (deploy-op)"
        [event] = [e for e in audit.recent(db.session) if e.action == "campaign.pause"]
        assert event.actor == "cli (deploy-op)"
        db.session.remove()
    status = spawn.run(["campaigns", "status", str(campaign_id)], env=env, timeout=60)
    assert "paused by cli (deploy-op)" in status.stdout, status.stdout


def test_search_and_page_in_a_browser(live: tuple[Flask, str], page: Page) -> None:
    app, base = live
    make_staff(app, "boss@example.com", Role.ADMIN)
    _events(app, 60)
    page.goto(base + "/console/login")
    page.fill("#email", "boss@example.com")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.goto(base + "/console/audit")
    page.fill("#action", "campaign.send")
    page.select_option("#target_type", "campaign")
    page.fill("#target_id", "1")
    page.click("#audit-filter button[type=submit]")
    assert page.inner_text("#audit-count") == "20 events match"
    assert page.input_value("#action") == "campaign.send"  # the form keeps the search
    page.fill("#target_id", "")
    page.click("#audit-filter button[type=submit]")
    assert page.inner_text("#audit-count") == "60 events match · page 1 of 2"
    page.click("a[rel=next]")
    assert page.locator("#audit-events tbody tr").count() == 10
    assert page.input_value("#action") == "campaign.send"
    page.click("#audit-events tbody tr:first-child a")
    assert page.url.startswith(base + "/console/campaigns/")
