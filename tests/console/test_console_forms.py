"""Console forms are sized for campaign content, not for the API's JSON.

A form URL-encodes a Cyrillic letter as 6 bytes and a CJK one as 9, so content that the
email's own limits allow (Gmail clips an email over ~100 KB) is far over the API's 16 KiB.
Such content saves; the 100,000-character source the editor takes is kept as a draft with the
check's verdict at its field, ready to fix but not to send; and a form over the console's own
limit comes back as the editor with what arrived, the reason at the field it was cut in, and
nothing saved.
"""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from urllib.parse import urlencode

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page

from invites.campaigns.models import Campaign, CampaignContent
from invites.console.forms import FORM_BYTES
from invites.core.config import Settings
from invites.core.db import db
from invites.staff import Role

from ..support.campaigns import make_campaign
from ..support.helpers import auth, new_key
from ..support.races import form_of
from ..support.servers import serve
from ..support.staff import PASSWORD, make_staff, page_fields, signed_in


def _words(word: str, chars: int) -> str:
    """Paragraphs of one word repeated, `chars` characters in all."""
    paragraph = " ".join([word] * 12) + "\n\n"
    return (paragraph * (chars // len(paragraph) + 1))[:chars]


MARKUP = (
    '<p>New <b>filters</b> in <a href="https://spotcam.example/f?a=1&amp;b=2">the app</a>.</p>\n'
)
#: Content in each script about as long as the email's size check lets through.
LONGEST = {
    "Cyrillic": ("markdown", _words("Привет", 30_000)),
    "CJK": ("markdown", _words("你好世界", 22_000)),
    "markup-heavy English": ("html", (MARKUP * 200)[:14_000]),
}
#: The longest source the editor takes, in each script.
FULL = {
    "Cyrillic": ("markdown", _words("Привет", 100_000)),
    "CJK": ("markdown", _words("你好世界", 100_000)),
    "markup-heavy English": ("html", (MARKUP * 1300)[:100_000]),
}
FIELD_ERROR = re.compile(r'<p class="field-error" id="error-([a-z_]+)" role="alert">([^<]*)</p>')


def _errors(page: str) -> dict[str, str]:
    return {name: html.unescape(message) for name, message in FIELD_ERROR.findall(page)}


def _textarea(page: str, name: str) -> str:
    found = re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, f"no {name} textarea"
    return html.unescape(found.group(1))


def _stored(app: Flask, campaign_id: int) -> tuple[int, str | None]:
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        row = db.session.get(CampaignContent, (campaign_id, "en"))
        assert campaign is not None
        found = campaign.version, row.body if row else None
        db.session.remove()
    return found


def _save(client: FlaskClient, campaign_id: int, body_format: str, body: str) -> tuple[int, str]:
    path = f"/console/campaigns/{campaign_id}/content/en"
    data = {"subject": "Long one", "preheader": "", "body_format": body_format, "body": body}
    answer = client.post(path, data={**page_fields(client, path), **data, "text_mode": "derived"})
    return answer.status_code, answer.text


@pytest.mark.parametrize("script", sorted(LONGEST))
def test_the_longest_content_in_any_script_saves(app: Flask, script: str) -> None:
    client = signed_in(app, "mia@example.com")
    campaign_id = make_campaign(app)
    body_format, body = LONGEST[script]
    assert len(urlencode({"body": body})) > 16 * 1024  # over the API's limit
    status, page = _save(client, campaign_id, body_format, body)
    assert status == 303, (_errors(page), page[:500])
    assert _stored(app, campaign_id)[1] == body


@pytest.mark.parametrize("script", sorted(FULL))
def test_a_100000_character_source_saves_as_a_draft_to_fix(app: Flask, script: str) -> None:
    client = signed_in(app, "mia@example.com")
    campaign_id = make_campaign(app)
    version = _stored(app, campaign_id)[0]
    body_format, body = FULL[script]
    assert len(body) == 100_000
    status, page = _save(client, campaign_id, body_format, body)
    assert status == 303  # saved, not a 413, not a form to type again
    assert _stored(app, campaign_id) == (version + 1, body)  # every character, kept

    # Opened again later: the check's verdict at the body, the text as saved. Too large an
    # email (Gmail clips one over ~100 KB): said of the body itself, or of the whole email
    # with its layout and styles, as the case may be.
    editor = client.get(f"/console/campaigns/{campaign_id}/content/en")
    assert re.search(r"the limit is 100000|Gmail clips", _errors(editor.text)["body"])
    assert _textarea(editor.text, "body") == body
    shown = client.get(f"/console/campaigns/{campaign_id}").text
    assert 'id="problems-en"' in shown and 'id="preview-en"' not in shown

    # Kept is not ready: it can't be approved, sent or previewed until it is fixed.
    approver = signed_in(app, "leo@example.com")
    page = f"/console/campaigns/{campaign_id}"
    for who, step in ((approver, "approve"), (client, "send")):
        refused = who.post(f"{page}/{step}", data=page_fields(who, page), follow_redirects=True)
        assert "the en content has problems to fix first" in refused.text, step
    assert client.get(f"{page}/preview/en").status_code == 404
    status, _ = _save(client, campaign_id, body_format, LONGEST[script][1])
    assert status == 303 and 'id="problems-en"' not in client.get(page).text


def test_a_source_over_100000_characters_is_not_saved_but_comes_back(app: Flask) -> None:
    client = signed_in(app, "mia@example.com")
    campaign_id = make_campaign(app)
    stored = _stored(app, campaign_id)
    body = FULL["Cyrillic"][1] + "x"
    status, page = _save(client, campaign_id, "markdown", body)
    assert status == 400 and "longer than 100000 characters" in _errors(page)["body"]
    assert _textarea(page, "body") == body  # every character back in the form
    assert _stored(app, campaign_id) == stored  # nothing saved


def test_a_scheduled_campaign_keeps_only_content_that_passes(app: Flask) -> None:
    client = signed_in(app, "mia@example.com")
    campaign_id = make_campaign(app)
    page = f"/console/campaigns/{campaign_id}"
    scheduled = client.post(
        f"{page}/schedule",
        data={
            **page_fields(client, page),
            "date": (date.today() + timedelta(days=30)).isoformat(),
            "time": "09:00",
        },
    )
    assert scheduled.status_code == 303, _errors(scheduled.text)
    stored = _stored(app, campaign_id)
    status, page_text = _save(client, campaign_id, "markdown", FULL["Cyrillic"][1])
    assert status == 400 and re.search(
        r"the limit is 100000|Gmail clips", _errors(page_text)["body"]
    )
    assert _stored(app, campaign_id) == stored  # it must stay ready to go at its time


def test_a_form_over_the_consoles_limit_comes_back_with_what_arrived(
    app: Flask, under_gunicorn: tuple[httpx.Client, int]
) -> None:
    mia, campaign_id = under_gunicorn
    version = _stored(app, campaign_id)[0]
    editor = f"/console/campaigns/{campaign_id}/content/en"
    body = _words("Привет", 600_000)  # 3.2 MB of form data
    typed = {"subject": "Kept", "preheader": "Also kept", "body_format": "markdown", "body": body}
    answer = mia.post(editor, data={**form_of(mia, editor), **typed, "text_mode": "own"})
    assert answer.status_code == 413
    assert "Not saved" in answer.text and "the form was 3.2 MB" in _errors(answer.text)["body"]
    assert 'id="subject" name="subject" value="Kept"' in answer.text
    assert 'value="Also kept"' in answer.text
    arrived = _textarea(answer.text, "body")
    # As much of the body as came within the limit, to the last whole character.
    assert body.startswith(arrived) and FORM_BYTES // 7 < len(arrived) < len(body)
    assert _stored(app, campaign_id)[0] == version
    # The same connection still works: the rest of the form was read and dropped.
    assert mia.get(editor).status_code == 200
    # Any other console form that large gets the console's page, not a bare 413.
    page = f"/console/campaigns/{campaign_id}"
    refused = mia.post(
        f"{page}/settings", data={**form_of(mia, page), "name": "x" * (FORM_BYTES + 10)}
    )
    assert refused.status_code == 413 and 'class="topbar"' in refused.text
    assert "Not saved" in html.unescape(refused.text)
    # The API keeps its own limit.
    api = httpx.post(
        str(mia.base_url.join("/api/v1/invitations")),
        content=b"{" + b" " * 20_000 + b"}",
        headers={"Content-Type": "application/json", **auth(new_key(app, ["invitations"]))},
    )
    assert api.status_code == 413 and api.headers["Content-Type"] == "application/problem+json"


def test_a_long_cyrillic_body_typed_in_the_browser_saves(
    app: Flask, settings: Settings, page: Page
) -> None:
    with serve(settings) as (live, base):
        make_staff(live, "mia@example.com", Role.MARKETING)
        campaign_id = make_campaign(live)
        page.goto(base + "/console/login")
        page.fill("#email", "mia@example.com")
        page.fill("#password", PASSWORD)
        page.click("#sign-in")
        page.goto(f"{base}/console/campaigns/{campaign_id}/content/en")
        body = LONGEST["Cyrillic"][1]
        page.fill("#body", body)
        page.click("#save-content")
        page.wait_for_selector("p.flash")
        assert page.inner_text("p.flash").startswith("Saved the en content")
        assert _stored(live, campaign_id)[1] == body
