"""The console under gunicorn, as in production, through a failover and through its own bugs.

After `pg_terminate_backend` every pooled connection of the app is dead; the first thing each
console request does with the database is look up the signed-in user (Flask-Login's loader,
before the view). Before, that lookup was not retried and gunicorn answered its bare
"Internal Server Error"; now it runs once more on a new connection. A database that stays
unreachable, or an error nobody expected, gets the console's own page, saying whether
anything was saved.
"""

from __future__ import annotations

import html
import os

import httpx
import pytest
from flask import Flask
from sqlalchemy import create_engine, make_url, text

from invites.campaigns.models import Campaign, CampaignContent
from invites.core.db import db

from ..support.helpers import terminate_backends
from ..support.races import form_of

BARE = "Internal Server Error"


def _is_console_page(answer: httpx.Response) -> bool:
    return 'class="topbar"' in answer.text and BARE not in answer.text


def _failover(app: Flask) -> None:
    """Kill every connection to the test's database, as a failover does; this process, which
    only looks, then starts with a fresh pool (gunicorn's worker is the one under test)."""
    assert terminate_backends(app.config["SQLALCHEMY_DATABASE_URI"]) >= 1
    with app.app_context():
        db.engine.dispose()


@pytest.mark.postgresql
def test_every_console_request_survives_a_failover(
    app: Flask, under_gunicorn: tuple[httpx.Client, int]
) -> None:
    mia, campaign_id = under_gunicorn
    pages = [
        "/console/",
        "/console/campaigns",
        f"/console/campaigns/{campaign_id}",
        f"/console/campaigns/{campaign_id}/content/en",
        f"/console/campaigns/{campaign_id}/preview/en",
        f"/console/campaigns/{campaign_id}/progress",
    ]
    for path in pages:
        assert mia.get(path).status_code == 200  # the pool holds a connection now
        _failover(app)
        answer = mia.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert path.endswith("/progress") or _is_console_page(answer), path
    # A form posted right after a failover is applied, once.
    form = form_of(mia, "/console/campaigns/new")
    _failover(app)
    made = mia.post(
        "/console/campaigns/new",
        data={**form, "name": "After the failover", "category": "promotional"},
    )
    assert made.status_code == 303
    with app.app_context():
        names = db.session.scalars(db.select(Campaign.name)).all()
        db.session.remove()
    assert sorted(names) == ["After the failover", "Winter filters"]


@pytest.mark.postgresql
def test_a_database_that_stays_away_gets_the_consoles_own_page(
    app: Flask, under_gunicorn: tuple[httpx.Client, int]
) -> None:
    mia, campaign_id = under_gunicorn
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    scratch = make_url(url).database
    admin = create_engine(os.environ["DATABASE_URL"], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            # This test's own scratch database only: no new connections, the old ones gone.
            conn.execute(text(f'ALTER DATABASE "{scratch}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db"),
                {"db": scratch},
            )
        answer = mia.get(f"/console/campaigns/{campaign_id}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{scratch}" ALLOW_CONNECTIONS true'))
        admin.dispose()
        with app.app_context():
            db.engine.dispose()  # this process's connections went too
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert _is_console_page(answer)
    assert "can't reach its database just now" in html.unescape(answer.text)
    assert "Nothing was saved." in answer.text
    assert "mia@example.com" not in answer.text  # drawn without looking up the user
    # Once it is back, so is the console.
    assert mia.get(f"/console/campaigns/{campaign_id}").status_code == 200


def test_an_unexpected_error_in_a_view_gets_the_consoles_own_page(
    app: Flask, under_gunicorn: tuple[httpx.Client, int]
) -> None:
    mia, campaign_id = under_gunicorn
    with app.app_context():
        row = db.session.get(CampaignContent, (campaign_id, "en"))
        assert row is not None
        row.compiled = '{"format": 1, "html": '  # stored content damaged: a bug, not a user's
        db.session.commit()
        db.session.remove()
    answer = mia.get(f"/console/campaigns/{campaign_id}/preview/en")
    assert answer.status_code == 500
    assert _is_console_page(answer) and "Something went wrong" in answer.text
    assert "Nothing was saved." in answer.text
    assert "Back to the console" in answer.text
    # The rest of the console still works, for the same session.
    assert mia.get(f"/console/campaigns/{campaign_id}").status_code == 200
