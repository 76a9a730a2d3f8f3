"""Aggregate statistics: counts per day and per inviter, never an address."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from invites.core.config import Settings
from invites.core.db import db, utcnow
from invites.core.mail import tokens
from invites.invitations.models import Invitation

from ..support.helpers import auth, clear_tables, invite, make_app, new_key, run_jobs


def test_daily_counts(app: Flask) -> None:
    key = new_key(app, ["invitations", "stats"])
    client = app.test_client()
    invite(client, key, "a@example.com")
    invite(client, key, "b@example.com")
    invite(client, key, "a@example.com", inviter_id="user-2")  # dropped: already invited
    run_jobs(app)
    today = utcnow().date()
    resp = client.get(
        f"/api/v1/stats/invitations?from={today - timedelta(days=2)}&to={today}", headers=auth(key)
    )
    assert resp.status_code == 200
    body = resp.get_json()
    assert [d["day"] for d in body["days"]] == [
        str(today - timedelta(days=2)),
        str(today - timedelta(days=1)),
        str(today),
    ]
    assert body["days"][-1] == {
        "day": str(today),
        "sent": 2,
        "accepted": 0,
        "removed": 0,
        "expired": 0,
        "bounced": 0,
        "suppressed": 1,
    }
    assert body["totals"]["sent"] == 2
    assert "@" not in resp.get_data(as_text=True)
    default = client.get("/api/v1/stats/invitations", headers=auth(key)).get_json()
    assert len(default["days"]) == 30 and default["to"] == str(today)


def test_inviter_stats(app: Flask) -> None:
    key = new_key(app, ["invitations", "stats"])
    client = app.test_client()
    invite(client, key, "x@example.com", inviter_id="alice")
    run_jobs(app)
    assert client.get("/api/v1/inviters/alice/stats", headers=auth(key)).get_json() == {
        "inviter_id": "alice",
        "invited": 1,
        "accepted": 0,
    }
    assert client.get("/api/v1/inviters/nobody/stats", headers=auth(key)).get_json() == {
        "inviter_id": "nobody",
        "invited": 0,
        "accepted": 0,
    }


def test_an_inviter_learns_nothing_about_the_address_from_their_stats(app: Flask) -> None:
    # The 202 hides whether an address was new, already invited, removed or a member; the
    # inviter's stats said "sent: 1" for the first and "sent: 0" for the others.
    key = new_key(app, ["invitations", "stats", "contacts"])
    client = app.test_client()
    invite(client, key, "taken@example.com", inviter_id="first")
    invite(client, key, "leave-me@example.com", inviter_id="first")
    with app.app_context():
        public_id = next(
            i.public_id
            for i in db.session.scalars(select(Invitation))
            if i.email == "leave-me@example.com"  # sealed: compared once opened
        )
        removal = "/r/" + tokens().make("remove", public_id)
    assert client.post(removal, data={"confirm": "remove"}).status_code == 303
    put = client.put(
        "/api/v1/contacts/m-1", json={"email": "member@example.com"}, headers=auth(key)
    )
    assert put.status_code == 201
    addresses = {
        "fresh": "new@example.com",
        "already-invited": "taken@example.com",
        "removed": "leave-me@example.com",
        "member": "member@example.com",
    }
    for inviter, address in addresses.items():
        assert invite(client, key, address, inviter_id=inviter).status_code == 202
    run_jobs(app)  # the fresh address's invitation is sent; none of the others is
    answers = {
        inviter: client.get(f"/api/v1/inviters/{inviter}/stats", headers=auth(key)).get_json()
        for inviter in addresses
    }
    assert {inviter: a.pop("inviter_id") for inviter, a in answers.items()} == {
        inviter: inviter for inviter in addresses
    }
    assert list(answers.values()) == [{"invited": 1, "accepted": 0}] * 4


def test_a_request_refused_over_a_limit_is_not_counted(settings: Settings) -> None:
    for per_day, per_month in ((2, 50), (10, 2)):
        app = make_app(
            settings, invites_per_inviter_day=per_day, invites_per_inviter_month=per_month
        )
        clear_tables(app)
        key = new_key(app, ["invitations", "stats"])
        client = app.test_client()
        statuses = [invite(client, key, f"l{i}@example.com").status_code for i in range(3)]
        assert statuses == [202, 202, 429]
        stats = client.get("/api/v1/inviters/user-1/stats", headers=auth(key)).get_json()
        assert stats["invited"] == 2
        clear_tables(app)


def test_bad_ranges(app: Flask) -> None:
    key = new_key(app, ["stats"])
    client = app.test_client()
    for query in (
        "from=2026-13-01",
        "from=2026-02-01&to=2026-01-01",
        "from=2020-01-01&to=2026-01-01",
        "to=yesterday",
    ):
        resp = client.get(f"/api/v1/stats/invitations?{query}", headers=auth(key))
        assert resp.status_code == 422, query
        assert resp.mimetype == "application/problem+json"
    resp = client.get("/api/v1/inviters/bad%20id/stats", headers=auth(key))
    assert resp.status_code == 422


def test_dates_outside_the_bounds_are_refused_not_overflowed(app: Flask) -> None:
    # Each of these overflowed Python's dates working out the range or its days: a 500.
    key = new_key(app, ["stats"])
    client = app.test_client()
    for query in (
        "from=9999-12-31&to=9999-12-31",
        "to=0001-01-01",
        "from=1999-12-31&to=2000-01-01",
        "from=3000-01-01&to=3000-01-02",
        "to=20261101",  # ISO 8601 basic format, which fromisoformat takes: not YYYY-MM-DD
    ):
        resp = client.get(f"/api/v1/stats/invitations?{query}", headers=auth(key))
        assert resp.status_code == 422, query
        assert resp.mimetype == "application/problem+json"
        assert "2000-01-01 to 2999-12-31" in resp.get_json()["errors"][0]["message"], query
    # The first and last days allowed are fine, and a range starting at the first one too.
    for query in ("from=2999-12-31&to=2999-12-31", "to=2000-01-10"):
        resp = client.get(f"/api/v1/stats/invitations?{query}", headers=auth(key))
        assert resp.status_code == 200, query
    assert (
        client.get("/api/v1/stats/invitations?to=2000-01-10", headers=auth(key)).get_json()["from"]
        == "2000-01-01"
    )
