"""A campaign page that reloads itself when the state changes never reloads over the answer to
a button its person pressed.

Seen in CI: two people pressed Pause together; while one's request waited for the other's, the
page's poller saw "paused" and reloaded, cancelling the form's navigation, and that person
never saw what became of their click.
"""

from __future__ import annotations

import threading

from flask import Flask
from playwright.sync_api import Page, Route

from invites.campaigns import lifecycle
from invites.campaigns.models import Campaign
from invites.core.db import db
from invites.staff import Role

from ..support.browser import sign_in
from ..support.campaigns import actor, make_campaign, people, seed, send_now
from ..support.staff import make_staff
from ..support.wait import until


def test_a_state_change_seen_while_a_click_is_answered_keeps_the_answer(
    live: tuple[Flask, str], page: Page
) -> None:
    app, base = live
    seed(app, people(20))
    campaign_id = make_campaign(app)
    send_now(app, campaign_id)  # no worker runs: it stays sending
    make_staff(app, "mia@example.com", Role.MARKETING)
    sign_in(page, base, "mia@example.com")
    page.goto(f"{base}/console/campaigns/{campaign_id}")

    # Mia's Pause is held in the browser, on its way, while someone else pauses first.
    held = threading.Event()
    routes: list[Route] = []

    def hold(route: Route) -> None:
        routes.append(route)
        held.set()

    page.route(f"**/console/campaigns/{campaign_id}/pause", hold)
    page.click("#pause", no_wait_after=True)

    def sent() -> bool:
        page.wait_for_timeout(20)  # Playwright runs the route handler while it waits
        return held.is_set()

    until(sent, "the click to be sent")
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        lifecycle.pause(db.session, campaign, actor(app))
        db.session.commit()
        db.session.remove()
    # A window, not a wait for something: the page's poller asks once a second, and in 1.5 s it
    # would have seen "paused" and reloaded over the click on its way.
    page.wait_for_timeout(1500)
    routes[0].continue_()
    page.wait_for_selector("p.flash")
    assert page.inner_text("p.flash").startswith("Not done")  # her click's answer, shown
