"""A marketer in headless Chromium narrows a campaign's audience with conditions and watches
the count follow; the form works without JavaScript too, and never shows a person."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from playwright.sync_api import Browser, Page, expect

from invites.campaigns.models import Campaign, SavedSegment
from invites.core.db import db
from invites.staff import Role

from ..support.browser import sign_in
from ..support.campaigns import Person, people, seed
from ..support.segments import attributes_of, give_attributes
from ..support.staff import make_staff


def _count(audience: list[Person], rule: Callable[[dict[str, str | None]], bool]) -> str:
    found = len([p for p in audience if p.gets("promotional") and rule(attributes_of(p))])
    return "fewer than 5" if found < 5 else str(found)


def _condition(page: Page, i: int, attribute: str, op: str, value: str) -> None:
    page.select_option(f"#cond-{i}-attribute", attribute)
    page.select_option(f"#cond-{i}-op", op)
    page.fill(f"#cond-{i}-value", value)


def test_segments_with_their_live_count(
    live: tuple[Flask, str], page: Page, browser: Browser, tmp_path: Path
) -> None:
    app, base = live
    audience = people(90)
    give_attributes(app, seed(app, audience), audience)
    make_staff(app, "mia@example.com", Role.MARKETING)
    sign_in(page, base, "mia@example.com")
    page.goto(base + "/console/campaigns/new")
    page.fill("#name", "Winter offer")
    page.click("#create-campaign")
    page.click('a:has-text("Winter offer")')
    count = page.locator("#segment-count")
    expect(count).to_have_text(_count(audience, lambda a: True))

    # Each change asks for the count again: Germany, then Pro or Plus owners.
    _condition(page, 0, "country", "equals", "de")
    expect(count).to_have_text(_count(audience, lambda a: a["country"] == "DE"))
    _condition(page, 1, "plan", "one_of", "pro, plus")
    german_paying = lambda a: a["country"] == "DE" and a["plan"] in ("pro", "plus")  # noqa: E731
    expect(count).to_have_text(_count(audience, german_paying))
    # A handful is blurred: it must not tell whether one person matches.
    _condition(page, 2, "signed_up_on", "before", "2026-01-09")
    expect(count).to_have_text("fewer than 5")
    # Any instead of all widens it.
    page.check("#match-any")
    expect(count).to_have_text(
        _count(
            audience,
            lambda a: (
                a["country"] == "DE"
                or a["plan"] in ("pro", "plus")
                or (a["signed_up_on"] is not None and a["signed_up_on"] < "2026-01-09")
            ),
        )
    )
    page.check("#match-all")
    # A value that can't be used: no count, and saving names the row and keeps what was typed.
    _condition(page, 2, "signed_up_on", "after", "last spring")
    expect(count).to_have_text("—")
    page.click("#save-settings")
    assert "Settings not saved" in page.inner_text("p.flash")
    assert "YYYY-MM-DD" in page.inner_text("#error-cond-2")
    assert page.get_attribute("#cond-2-value", "aria-invalid") == "true"
    assert page.input_value("#cond-2-value") == "last spring"
    assert page.input_value("#cond-1-value") == "pro, plus"

    _condition(page, 2, "signed_up_on", "after", "2026-01-10")
    winter = lambda a: (  # noqa: E731
        german_paying(a) and a["signed_up_on"] is not None and a["signed_up_on"] > "2026-01-10"
    )
    expect(count).to_have_text(_count(audience, winter))
    page.click("#save-settings")
    assert "Saved the settings." in page.inner_text("p.flash")
    assert page.inner_text("#reach").startswith(_count(audience, winter) + " contact")
    assert page.inner_text("#segment-summary") == (
        "Country is DE and Plan is one of pro, plus and Signed up on is after 2026-01-10"
    )
    page.fill("#segment_name", "German paying, new this year")
    page.click("#save-segment")
    assert "Saved the segment" in page.inner_text("p.flash")
    page.set_viewport_size({"width": 1200, "height": 1000})
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    page.locator("#settings").screenshot(path=str(folder / "console-segment.png"))
    # Counts only: no address, no name of anybody in the audience, anywhere on the page.
    html = page.content()
    assert "example.org" not in html and "Person" not in html

    with app.app_context():
        stored = db.session.scalars(db.select(Campaign)).one()
        saved = db.session.scalars(db.select(SavedSegment)).one()
        assert json.loads(stored.segment or "{}")["match"] == "all"
        assert saved.definition == stored.segment
        db.session.remove()

    # Without JavaScript: a second campaign takes the saved segment's conditions and the count
    # shown is the one the server worked out.
    quiet = browser.new_context(java_script_enabled=False, viewport={"width": 1000, "height": 800})
    try:
        plain = quiet.new_page()
        sign_in(plain, base, "mia@example.com")
        plain.goto(base + "/console/campaigns/new")
        plain.fill("#name", "Spring offer")
        plain.click("#create-campaign")
        plain.click('a:has-text("Spring offer")')
        plain.select_option("#saved_segment", label="German paying, new this year")
        plain.click("#use-segment")
        assert plain.input_value("#cond-1-value") == "pro, plus"
        assert plain.inner_text("#segment-count") == _count(audience, winter)
        plain.click("#save-settings")
        assert "Saved the settings." in plain.inner_text("p.flash")
        assert plain.inner_text("#segment-count") == _count(audience, winter)
        assert plain.input_value("#cond-0-value") == "DE"
    finally:
        quiet.close()
