"""Campaign pages through the test client: forms checked, templates refused on save, actions
audited, approval enforced, times read in the viewer's zone; delivery by real jobs to aiosmtpd.
"""

from __future__ import annotations

import html
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from invites.campaigns.models import Campaign, CampaignContent, CampaignDelivery
from invites.core import audit
from invites.core.config import Settings
from invites.core.db import db
from invites.staff import Role

from ..support.campaigns import expected, make_campaign, people, received, seed
from ..support.helpers import make_app, run_jobs
from ..support.races import console_session, form_of
from ..support.servers import serve
from ..support.smtpd import SMTPSink
from ..support.staff import (
    form_token,
    label_of,
    make_staff,
    page_fields,
    post_form,
    sign_in,
    signed_in,
)

NEW = "/console/campaigns/new"
GOOD = {
    "subject": "Winter news for {{ first_name }}",
    "preheader": "Fresh filters",
    "body_format": "markdown",
    "body": "# Hi {{ first_name }}\n\nNew filters. [Settings]({{ preferences_url }})\n",
    "text_mode": "derived",
}


def _flash(text: str) -> list[str]:
    found = re.findall(r'<p class="flash [a-z]+" role="status">([^<]+)</p>', text)
    return [html.unescape(m) for m in found]


def _field_errors(text: str) -> dict[str, str]:
    """Why each field was refused, as the page shows it at the field."""
    found = re.findall(
        r'<p class="field-error" id="error-([a-z_]+)" role="alert">([^<]+)</p>', text
    )
    return {name: html.unescape(message) for name, message in found}


def _only_campaign(app: Flask) -> Campaign:
    with app.app_context():
        found = db.session.scalars(db.select(Campaign)).all()
        assert len(found) == 1
        db.session.expunge(found[0])
        db.session.remove()
        return found[0]


def _create(client: FlaskClient, **fields: str) -> int:
    data = {"name": "Winter filters", "category": "promotional", **fields}
    done = post_form(client, NEW, data, NEW)
    assert done.status_code == 303, done.text
    found = re.search(r"/console/campaigns/(\d+)/content/en$", done.headers["Location"])
    assert found, done.headers["Location"]
    return int(found.group(1))


def _save(client: FlaskClient, campaign_id: int, locale: str, **fields: str) -> TestResponse:
    path = f"/console/campaigns/{campaign_id}/content/{locale}"
    return post_form(client, path, {**GOOD, **fields}, path)


def _act(client: FlaskClient, campaign_id: int, action: str, **data: str) -> TestResponse:
    page = f"/console/campaigns/{campaign_id}"
    return post_form(client, f"{page}/{action}", data, page)


@pytest.fixture()
def mail_app(smtp_app: Flask) -> Flask:
    """The console on an app that delivers to aiosmtpd."""
    return smtp_app


def test_write_preview_test_and_send_a_campaign(mail_app: Flask, smtp_sink: SMTPSink) -> None:
    app = mail_app
    audience = people(60)
    seed(app, audience)
    client = signed_in(app, "mia@example.com", Role.MARKETING)
    assert "Campaigns" in client.get("/console/").text

    campaign_id = _create(client)
    editor = client.get(f"/console/campaigns/{campaign_id}/content/en")
    reach = re.search(r"Would reach <strong>(\d+)</strong>", editor.text)
    assert reach and int(reach.group(1)) == len(expected(audience))

    assert _save(client, campaign_id, "en").status_code == 303
    assert (
        _save(client, campaign_id, "ru", subject="Новости для {{ first_name }}").status_code == 303
    )

    for locale, words in (("en", "Winter news for Alex"), ("ru", "Новости для Alex")):
        shown = client.get(f"/console/campaigns/{campaign_id}/preview/{locale}")
        assert shown.status_code == 200 and words in html.unescape(shown.text)
        frame = client.get(f"/console/campaigns/{campaign_id}/preview/{locale}/email.html")
        assert frame.status_code == 200 and "Hi Alex" in frame.text
        # The email may style itself and nothing more; only the console may frame it.
        assert frame.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    nameless = client.get(f"/console/campaigns/{campaign_id}/preview/en/email.html?sample=none")
    assert "Hi \n" in nameless.text or "Hi </h1>" in nameless.text

    tested = _act(client, campaign_id, "test", addresses="qa@spotcam.example, Boss@Spotcam.example")
    assert tested.status_code == 303
    run_jobs(app)
    assert sorted(received(smtp_sink)) == ["Boss@spotcam.example", "qa@spotcam.example"]
    assert all(m.message["Subject"] == "[TEST] Winter news for Alex" for m in smtp_sink.messages)
    smtp_sink.messages.clear()

    assert _act(client, campaign_id, "send").status_code == 303
    for _ in range(5):
        run_jobs(app)
        if _only_campaign(app).status == "done":
            break
    assert _only_campaign(app).status == "done"
    assert set(received(smtp_sink)) == expected(audience)
    assert max(received(smtp_sink).values()) == 1
    with app.app_context():
        ledger = db.session.scalars(db.select(CampaignDelivery.status)).all()
        db.session.remove()
    assert len(ledger) == len(expected(audience))  # the tests are not in the ledger

    live = client.get(f"/console/campaigns/{campaign_id}/progress").get_json()
    assert live["percent"] == 100.0 and live["counts"]["sent"] == len(expected(audience))
    page = client.get(f"/console/campaigns/{campaign_id}")
    assert f'<td data-part="sent">{len(expected(audience))}</td>' in page.text
    with app.app_context():
        actions = [
            (e.action, e.actor) for e in audit.events_for(db.session, "campaign", campaign_id)
        ]
        db.session.remove()
    assert [a for a, _ in reversed(actions)] == [
        "campaign.create",
        "campaign.edit",
        "campaign.edit",
        "campaign.test_send",
        "campaign.send",
    ]
    assert {who for _, who in actions} == {label_of(app, "mia@example.com")}
    assert "qa@spotcam.example" not in page.text  # the history counts test addresses only
    assert "campaign.test_send" in page.text


def test_bad_settings_are_refused_and_what_was_typed_is_kept(app: Flask) -> None:
    client = signed_in(app, "mia@example.com")
    cases = [
        ({"name": "", "category": "promotional"}, "name", "Give the campaign a name."),
        (
            {"name": "Kept <b>", "category": "partner_offers", "partner_name": " "},
            "partner_name",
            "names the partner",
        ),
        ({"name": "Offer", "category": "service"}, "category", "Choose a category"),
        (
            {"name": "X", "category": "promotional", "rate_per_second": "-3"},
            "rate_per_second",
            "send rate",
        ),
        (
            {"name": "X", "category": "promotional", "sender": "a@b\r\nBcc: c@d"},
            "sender",
            "from address",
        ),
        ({"name": "X\x00Y" * 101, "category": "promotional"}, "name", "longer than 200"),
    ]
    for data, field, message in cases:
        refused = post_form(client, NEW, {"partner_name": "Kept <b>", **data}, NEW)
        assert refused.status_code == 400, data
        assert _flash(refused.text) == ["Not created: see the fields marked below."]
        errors = _field_errors(refused.text)
        assert message in errors.get(field, ""), (data, errors)  # the reason, at its field
        assert 'value="Kept &lt;b&gt;"' in refused.text  # what was typed is kept, escaped
    with app.app_context():
        assert db.session.scalars(db.select(Campaign)).all() == []
        db.session.remove()


@pytest.mark.parametrize(
    ("body", "part", "line", "message"),
    [
        ("Hi\n\n{{ ''.__class__.__mro__ }}\n", "body", 3, "__class__"),
        ("{{ first_name }}\n{{ email }}\n", "body", 2, "email"),
        ("{% for x in first_name %}\n{% endfor\n", "body", None, ""),
        (
            "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
            "body",
            1,
            "cycler",
        ),
        ("{{ (first_name * 99999) * 99999 }}", "body", None, ""),
    ],
)
def test_unsafe_or_broken_templates_are_kept_to_fix_with_line_and_message_never_compiled(
    app: Flask, body: str, part: str, line: int | None, message: str
) -> None:
    client = signed_in(app, "mia@example.com")
    campaign_id = _create(client)
    kept = _save(client, campaign_id, "en", body=body)
    assert kept.status_code == 303  # the draft is kept, to fix; it is not compiled
    editor = client.get(kept.headers["Location"])
    text = html.unescape(editor.text)
    assert "problem(s) to fix" in " ".join(_flash(editor.text))
    problems = re.findall(r'<li data-part="([a-z]+)"><strong>([^<]+)</strong>: ([^<]*)</li>', text)
    assert problems, text[-2000:]
    assert any(p == part for p, _, _ in problems)
    if line is not None:
        assert any(where == f"{part}, line {line}" for _, where, _ in problems), problems
    assert any(message in m for _, _, m in problems), problems
    assert body.strip()[:20] in text  # the draft is in the form to fix
    assert _only_campaign(app).version == 2
    with app.app_context():
        row = db.session.get(CampaignContent, (campaign_id, "en"))
        assert row is not None and row.body == body and row.compiled is None
        db.session.remove()


def test_a_form_without_its_csrf_token_is_refused(app: Flask) -> None:
    client = signed_in(app, "mia@example.com")
    refused = client.post(NEW, data={"name": "No token", "category": "promotional"})
    assert refused.status_code == 400 and "Form not accepted" in refused.text
    campaign_id = _create(client)
    for action in ("send", "cancel", "approve", "test"):
        refused = client.post(f"/console/campaigns/{campaign_id}/{action}", data={})
        assert refused.status_code == 400 and "Form not accepted" in refused.text
    assert _only_campaign(app).status == "draft"


def test_two_person_rule_when_approval_is_required(settings: Settings, app: Flask) -> None:
    strict = make_app(settings, campaign_approval="required")
    mia = signed_in(strict, "mia@example.com")
    campaign_id = _create(mia)
    assert _save(mia, campaign_id, "en").status_code == 303
    refused = _act(mia, campaign_id, "send")
    assert refused.status_code == 409
    assert "must approve the current content" in html.unescape(refused.text)
    own = _act(mia, campaign_id, "approve")
    assert own.status_code == 409
    assert "someone other than its last editor" in html.unescape(own.text)

    leo = signed_in(strict, "leo@example.com")
    assert _act(leo, campaign_id, "approve").status_code == 303
    assert _only_campaign(strict).approved_version == 2
    # An edit after the approval withdraws it.
    assert _save(mia, campaign_id, "en", subject="Changed {{ first_name }}").status_code == 303
    assert _only_campaign(strict).approved_version is None
    assert _act(mia, campaign_id, "send").status_code == 409
    assert _act(leo, campaign_id, "approve").status_code == 303
    assert _act(mia, campaign_id, "send").status_code == 303
    assert _only_campaign(strict).status == "sending"
    with strict.app_context():
        who = [(e.action, e.actor) for e in audit.events_for(db.session, "campaign", campaign_id)]
        db.session.remove()
    assert ("campaign.approve", label_of(strict, "leo@example.com")) in who


def test_schedule_is_read_in_the_viewers_zone(app: Flask) -> None:
    make_staff(app, "msk@example.com", Role.MARKETING, time_zone="Europe/Moscow")
    client = app.test_client()
    assert sign_in(client, "msk@example.com").status_code == 302
    campaign_id = _create(client)
    assert _save(client, campaign_id, "en").status_code == 303
    day = (datetime.now(UTC) + timedelta(days=3)).date()

    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    for bad, field, message in (
        ({"date": "31/12/2026", "time": "10:00"}, "date", "YYYY-MM-DD"),
        ({"date": day.isoformat(), "time": "25:00"}, "time", "HH:MM"),
        (
            {
                "date": day.isoformat(),
                "time": "10:00",
                "anchor": "local",
                "default_zone": "Mars/Base",
            },
            "default_zone",
            "is not an IANA time zone name",
        ),
        ({"date": "2001-01-01", "time": "10:00"}, "date", "That date has passed"),
        ({"date": "9999-12-31", "time": "23:59"}, "date", "within the next two years"),
        ({"date": yesterday.isoformat(), "time": "00:01"}, None, "that time has passed"),
    ):
        refused = _act(client, campaign_id, "schedule", **bad)
        assert refused.status_code in (400, 409), bad
        if field is None:  # a refusal of the step, not of a field
            assert message in html.unescape(refused.text), bad
        else:
            assert message in _field_errors(refused.text).get(field, ""), bad
        assert f'id="schedule-date" name="date" value="{bad["date"]}"' in refused.text

    done = _act(client, campaign_id, "schedule", date=day.isoformat(), time="10:00")
    assert done.status_code == 303
    stored = _only_campaign(app)
    moscow = datetime.combine(day, datetime.min.time().replace(hour=10), ZoneInfo("Europe/Moscow"))
    assert stored.status == "scheduled"
    assert stored.scheduled_at == moscow.astimezone(UTC).replace(tzinfo=None)  # 07:00 UTC
    assert "10:00 MSK" in client.get(f"/console/campaigns/{campaign_id}").text

    local = _act(
        client,
        campaign_id,
        "schedule",
        date=day.isoformat(),
        time="09:30",
        anchor="local",
        default_zone="Asia/Tokyo",
    )
    assert local.status_code == 303
    stored = _only_campaign(app)
    assert (stored.anchor, stored.local_time, stored.default_zone) == (
        "local",
        "09:30",
        "Asia/Tokyo",
    )


def test_pause_resume_cancel_and_steps_that_are_not_possible(app: Flask) -> None:
    seed(app, people(10))
    client = signed_in(app, "mia@example.com")
    campaign_id = _create(client)
    assert _act(client, campaign_id, "pause").status_code == 409
    assert _save(client, campaign_id, "en").status_code == 303
    assert _act(client, campaign_id, "send").status_code == 303
    assert _act(client, campaign_id, "pause").status_code == 303
    # Stored by account, shown by the address that account has now.
    assert _only_campaign(app).paused_reason == f"paused by {label_of(app, 'mia@example.com')}"
    paused = client.get(f"/console/campaigns/{campaign_id}").text
    # A state with who paused it, not an error banner.
    assert 'id="paused-state" data-state="paused"' in paused
    assert "Paused by mia@example.com." in paused and 'class="flash error"' not in paused
    assert _act(client, campaign_id, "resume").status_code == 303
    assert _only_campaign(app).status == "sending"
    refused = _save(client, campaign_id, "en", subject="Too late")
    assert refused.status_code == 409
    page = f"/console/campaigns/{campaign_id}"
    stale = page_fields(client, page)  # a second tab, loaded while it was sending
    assert _act(client, campaign_id, "cancel").status_code == 303
    again = client.post(f"{page}/pause", data=stale)
    assert again.status_code == 409
    assert "the campaign changed since your page was loaded" in html.unescape(again.text)
    assert "you saw it sending" in html.unescape(again.text)
    # Without the page's version and status, a form is not used at all.
    bare = client.post(f"{page}/resume", data={"csrf_token": stale["csrf_token"]})
    assert bare.status_code == 400 and "Reload the campaign" in html.unescape(bare.text)
    assert _only_campaign(app).status == "cancelled"
    assert client.get("/console/campaigns/999999").status_code == 404
    assert client.get(f"/console/campaigns/{campaign_id}/content/de").status_code == 404


def test_hostile_text_is_shown_as_text(app: Flask) -> None:
    client = signed_in(app, "mia@example.com")
    campaign_id = _create(client, name='<script>alert(1)</script>"')
    assert (
        _save(client, campaign_id, "en", subject="<img src=x onerror=alert(1)>").status_code == 303
    )
    for path in ("/console/campaigns", f"/console/campaigns/{campaign_id}"):
        page = client.get(path).text
        assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
        assert "<img src=x" not in page


def test_test_sends_are_validated_and_limited(app: Flask) -> None:
    client = signed_in(app, "mia@example.com")
    campaign_id = _create(client)
    assert _act(client, campaign_id, "test", addresses="qa@spotcam.example").status_code == 400
    assert _save(client, campaign_id, "en").status_code == 303
    for typed, message in (
        ("", "at least one address"),
        ("not-an-address", "can't be used"),
        (" ".join(f"a{i}@spotcam.example" for i in range(6)), "at most 5"),
    ):
        refused = _act(client, campaign_id, "test", addresses=typed, locale="en")
        assert refused.status_code == 400
        assert message in html.unescape(refused.text)
    for _ in range(4):
        sent = _act(
            client,
            campaign_id,
            "test",
            addresses=" ".join(f"a{i}@spotcam.example" for i in range(5)),
            locale="en",
        )
        assert sent.status_code == 303
    limited = _act(client, campaign_id, "test", addresses="late@spotcam.example", locale="en")
    assert limited.status_code == 429
    assert "most tests allowed this hour" in html.unescape(limited.text)
    assert form_token(client, f"/console/campaigns/{campaign_id}")


CHANGED = "the campaign changed since your page was loaded"
#: Two steps taken from pages showing the same state, one after the other: why the second is
#: refused, or None where it still applies.
AFTER_EACH_OTHER = [
    ("content", "send", CHANGED),  # it was edited: look at the new version before sending
    ("send", "content", "A sending campaign can't be edited."),
    ("send", "send", CHANGED),
    ("send", "cancel", CHANGED),  # the page showed a draft; it sends now
    ("cancel", "send", CHANGED),
    ("approve", "content", None),  # an approval doesn't change what the author edits...
    ("content", "approve", CHANGED),  # ...but an edit changes what the approver saw
    ("approve", "approve", "is approved already"),
]


@pytest.mark.parametrize(("first", "second", "refused"), AFTER_EACH_OTHER)
def test_a_step_from_a_page_that_is_out_of_date(
    app: Flask, first: str, second: str, refused: str | None
) -> None:
    seed(app, people(5))
    mia = signed_in(app, "mia@example.com")
    campaign_id = _create(mia)
    assert _save(mia, campaign_id, "en").status_code == 303
    leo = signed_in(app, "leo@example.com")
    page = f"/console/campaigns/{campaign_id}"
    editor = f"{page}/content/en"
    clients = {"content": mia, "send": leo, "cancel": leo, "approve": leo}
    # Two tabs on the same moment; "approve" only from leo, who did not write it.
    if first == second:
        clients = {first: mia if first != "approve" else leo}
        other = signed_in(app, "ann@example.com")
    else:
        other = clients[second]
    forms = {
        "first": page_fields(clients[first], editor if first == "content" else page),
        "second": page_fields(other, editor if second == "content" else page),
    }

    def post(step: str, client: FlaskClient, fields: dict[str, str]) -> TestResponse:
        if step == "content":
            return client.post(editor, data={**fields, **GOOD, "subject": "New {{ first_name }}"})
        return client.post(f"{page}/{step}", data=fields)

    assert post(first, clients[first], forms["first"]).status_code == 303
    done = post(second, other, forms["second"])
    if refused is None:
        assert done.status_code == 303
    else:
        assert done.status_code == 409 and refused in html.unescape(done.text)
    with app.app_context():
        steps = [e.action for e in audit.events_for(db.session, "campaign", campaign_id)]
        db.session.remove()
    last = second if refused is None else first
    assert steps[0] == f"campaign.{last}".replace("content", "edit")


def test_two_sends_at_once_on_either_database(app: Flask, settings: Settings) -> None:
    # Without the row held (PostgreSQL's races are in test_console_races.py): released
    # together, on SQLite the write lock puts one after the other.
    with serve(settings) as (live, base):
        make_staff(live, "mia@example.com", Role.MARKETING)
        make_staff(live, "leo@example.com", Role.MARKETING)
        tabs = [console_session(base, "mia@example.com"), console_session(base, "leo@example.com")]
        gate = threading.Barrier(2)
        for _ in range(3):
            campaign_id = make_campaign(live)
            page = f"/console/campaigns/{campaign_id}"
            forms = [form_of(tab, page) for tab in tabs]

            def send(n: int, page: str = page, forms: list[dict[str, str]] = forms) -> int:
                gate.wait(timeout=30)
                return tabs[n].post(f"{page}/send", data=forms[n]).status_code

            with ThreadPoolExecutor(2) as pool:
                codes = sorted(pool.map(send, (0, 1)))
            assert codes == [303, 409]
            with live.app_context():
                steps = [e.action for e in audit.events_for(db.session, "campaign", campaign_id)]
                db.session.remove()
            assert steps.count("campaign.send") == 1
        for tab in tabs:
            tab.close()
