"""Every bad time zone name is refused, with its reason, wherever a zone is typed or sent.

The same hostile names go to the API (PUT /api/v1/contacts/<id>: a 422 naming the field), the
console's schedule form and its staff-user form (the reason at the field, what was typed
kept), and `invites users create --time-zone` (one line, exit 1). They are refused by the one
check in invites/core/zones.py, never by a 500 from the file the name led to.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from invites.core import zones
from invites.core.db import db
from invites.staff import Role, users

from ..support.helpers import auth, new_key
from ..support.staff import PASSWORD, page_fields, post_form, signed_in

#: Names that open a directory, a file outside the zone database, nothing, or the wrong
#: thing; too long, badly spelt, non-ASCII or with a control character.
HOSTILE = [
    "America",
    "Europe",
    "Etc",
    "a" * 300,
    "Europe/" + "a" * 300,
    "x" * 5000,
    "../etc/passwd",
    "../../../../etc/passwd",
    "UTC/../..",
    "Europe/../Europe/Moscow",
    "Europe/Moscow/",
    "/etc/localtime",
    "/usr/share/zoneinfo/UTC",
    "posix/Europe/Moscow",
    "right/UTC",
    "posixrules",
    "localtime",
    "zone.tab",
    "tzdata.zi",
    "leapseconds",
    "Europe\\Moscow",
    "europe/moscow",
    "Europe/Mоscow",  # a Cyrillic о
    "Москва",
    "Asia/東京",
    "😀",
    "Mars/Olympus_Mons",
    "Europe/Moscow\x00",
    "\x00",
    "%2e%2e/%2e%2e",
    "Europe/Moscow; DROP TABLE contacts",
]
#: Refused too where a zone is required (the API), though the forms read an empty field
#: as "no zone" or "UTC", and trim what is typed around it.
HOSTILE_STRICT = [*HOSTILE, "", " ", " Europe/Moscow", "Europe/Moscow ", "UTC\n"]


def _field_error(page: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="error-{name}" role="alert">([^<]*)</p>', page)
    assert found, f"no error at the {name} field"
    return html.unescape(found.group(1))


def test_the_one_check() -> None:
    for bad in HOSTILE_STRICT:
        assert not zones.is_zone(bad), repr(bad)
        with pytest.raises(zones.UnknownZone, match="is not an IANA time zone name"):
            zones.check_zone(bad)
    for good in ("Europe/Moscow", "UTC", "Asia/Kolkata", "America/Argentina/Buenos_Aires"):
        assert zones.check_zone(good) == good
        assert zones.zone(good).key == good
    names = zones.zone_names()
    assert "Europe/Moscow" in names and names == sorted(names)
    assert not {"localtime", "posixrules"} & set(names)
    # The message quotes the name back, printable and short.
    with pytest.raises(zones.UnknownZone) as caught:
        zones.check_zone("a" * 300 + "\x00")
    assert len(str(caught.value)) < 120 and "\x00" not in str(caught.value)


def test_the_api_answers_422_for_each(app: Flask) -> None:
    client = app.test_client()
    key = new_key(app, ["contacts"])
    body = {"email": "z@example.org", "locale": "en"}
    for bad in HOSTILE_STRICT:
        refused = client.put(
            "/api/v1/contacts/u-1", json={**body, "time_zone": bad}, headers=auth(key)
        )
        assert refused.status_code == 422, (bad, refused.status_code)
        assert refused.mimetype == "application/problem+json"
        assert [e["field"] for e in refused.get_json()["errors"]] == ["time_zone"], bad
    assert client.get("/api/v1/contacts/u-1", headers=auth(key)).status_code == 404
    ok = client.put(
        "/api/v1/contacts/u-1", json={**body, "time_zone": "Europe/Moscow"}, headers=auth(key)
    )
    assert ok.status_code == 201 and ok.get_json()["time_zone"] == "Europe/Moscow"
    # The document lists exactly the names the service takes.
    document = client.get("/api/v1/openapi.json").get_json()
    schema = document["components"]["schemas"]["ContactIn"]["properties"]["time_zone"]
    listed = next(s for s in schema["anyOf"] if s.get("type") == "string")
    assert listed["enum"] == zones.zone_names()


def test_the_schedule_form_shows_the_reason_at_the_field(app: Flask) -> None:
    from ..console.test_console_campaigns import GOOD

    client = signed_in(app, "mia@example.com")
    made = post_form(
        client,
        "/console/campaigns/new",
        {"name": "Zones", "category": "promotional"},
        "/console/campaigns/new",
    )
    campaign_id = int(made.headers["Location"].split("/")[3])
    content = f"/console/campaigns/{campaign_id}/content/en"
    assert post_form(client, content, GOOD, content).status_code == 303
    page = f"/console/campaigns/{campaign_id}"
    day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    for bad in HOSTILE:
        if "\x00" in bad:
            continue  # a form field can't hold one; the form drops it (tested below)
        data = {"date": day, "time": "09:00", "anchor": "local", "default_zone": bad}
        refused = client.post(f"{page}/schedule", data={**page_fields(client, page), **data})
        assert refused.status_code == 400, bad
        assert "is not an IANA time zone name" in _field_error(refused.text, "default_zone"), bad
        assert f'name="default_zone" value="{html.escape(bad)}"' in refused.text, bad
    nul = {"date": day, "time": "09:00", "anchor": "local", "default_zone": "Euro\x00pe"}
    refused = client.post(f"{page}/schedule", data={**page_fields(client, page), **nul})
    assert refused.status_code == 400
    with app.app_context():
        from invites.campaigns.models import Campaign

        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "draft"
        db.session.remove()


def test_staff_user_creation_in_the_console_and_on_the_command_line(app: Flask) -> None:
    admin = signed_in(app, "boss@example.com", Role.ADMIN)
    for n, bad in enumerate(HOSTILE):
        if "\x00" in bad:
            continue
        form = {
            "email": f"new{n}@example.com",
            "role": "marketing",
            "time_zone": bad,
            "password": PASSWORD,
            "password_again": PASSWORD,
        }
        refused = post_form(admin, "/console/users", form, "/console/users")
        assert refused.status_code == 400, bad
        assert "is not an IANA time zone name" in _field_error(refused.text, "time_zone"), bad
        assert f'value="new{n}@example.com"' in refused.text  # what was typed is kept

        cli = app.test_cli_runner().invoke(
            args=[
                "users",
                "create",
                f"cli{n}@example.com",
                "--role",
                "marketing",
                "--password-stdin",
                "--time-zone",
                bad,
            ],
            input=PASSWORD + "\n",
        )
        assert cli.exit_code == 1, (bad, cli.output)
        assert "is not an IANA time zone name" in cli.output and cli.output.count("\n") == 1
    with app.app_context():
        assert [u.email for u in users.all_users(db.session)] == ["boss@example.com"]
        db.session.remove()
