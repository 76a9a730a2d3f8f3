"""Fixtures for console tests over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest
from flask import Flask

from invites.core.config import Settings
from invites.staff import Role

from ..support.campaigns import make_campaign
from ..support.races import console_session
from ..support.servers import gunicorn
from ..support.staff import make_staff


@pytest.fixture()
def under_gunicorn(app: Flask, settings: Settings) -> Iterator[tuple[httpx.Client, int]]:
    """mia, signed in to the console under gunicorn (as in production), and a campaign with
    saved content, on the `app` fixture's database and Redis."""
    make_staff(app, "mia@example.com", Role.MARKETING)
    campaign_id = make_campaign(app)
    with gunicorn(settings) as base, closing(console_session(base, "mia@example.com")) as mia:
        yield mia, campaign_id
