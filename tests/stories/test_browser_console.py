"""A person in headless Chromium signs in to the console, uses it, and signs out."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page

from invites.core.db import db
from invites.staff import Role, users

from ..support.staff import PASSWORD, make_staff


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    """docs/ (or wherever SCREENSHOT_DIR points) for the README; else this test's tmp folder."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)


def _sign_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(base + "/console/")
    assert page.url == base + "/console/login?next=/console/"  # sent to sign in first
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#sign-in")


def test_sign_in_see_home_sign_out(live: tuple[Flask, str], page: Page, tmp_path: Path) -> None:
    app, base = live
    make_staff(app, "boss@example.com", Role.ADMIN)
    _sign_in(page, base, "boss@example.com", "not the password")
    assert "match an active staff account" in page.inner_text("#login-error")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    assert page.url == base + "/console/"
    assert page.inner_text("#role") == "admin"
    assert "boss@example.com" in page.inner_text("#whoami")
    assert page.locator("#sections h2").all_inner_texts() == [
        "Campaigns",
        "Staff users",
        "API keys",
        "Audit log",
        "Privacy policy",
    ]
    page.set_viewport_size({"width": 390, "height": 800})  # a phone: nothing wider than it
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(page, tmp_path, "console-home.png")
    page.click("#logout")
    assert page.url == base + "/console/login"
    assert "You have signed out." in page.inner_text("main")
    page.goto(base + "/console/users")
    assert page.url.startswith(base + "/console/login")


def test_marketing_opening_an_admin_page_sees_403(live: tuple[Flask, str], page: Page) -> None:
    app, base = live
    make_staff(app, "mia@example.com", Role.MARKETING)
    _sign_in(page, base, "mia@example.com")
    assert page.inner_text("#role") == "marketing"
    assert page.locator("#sections h2").all_inner_texts() == ["Campaigns"]
    assert "Staff users" not in page.inner_text("header")
    for path in ("/console/users", "/console/api-keys", "/console/audit"):
        response = page.goto(base + path)
        assert response is not None and response.status == 403
        assert page.inner_text("#error h1") == "Forbidden"
        assert "for admin staff; you are marketing" in page.inner_text("#error")
        assert "mia@example.com" in page.inner_text("#whoami")  # still the console's frame


def test_an_admin_creates_a_staff_user(live: tuple[Flask, str], page: Page, tmp_path: Path) -> None:
    app, base = live
    make_staff(app, "boss@example.com", Role.ADMIN, time_zone="Europe/Moscow")
    _sign_in(page, base, "boss@example.com")
    page.click("nav >> text=Staff users")
    assert page.url == base + "/console/users"
    page.fill("#new-email", "Mia@Example.com")
    page.select_option("#new-role", "marketing")
    page.fill("#new-password", "a first password for Mia")
    page.fill("#new-password-again", "a first password for Mia")
    page.click("#create-user")
    assert page.url == base + "/console/users"
    assert page.inner_text("p.flash") == "Created mia@example.com (marketing)."
    row = page.locator('tr[data-email="mia@example.com"]')
    assert row.locator("select").input_value() == "marketing"
    assert "MSK" in row.inner_text()  # times in the viewer's zone
    page.set_viewport_size({"width": 390, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(page, tmp_path, "console-staff-users.png")
    with app.app_context():
        mia = users.find_by_email(db.session, "mia@example.com")
        assert mia is not None and mia.role == Role.MARKETING
        db.session.remove()
    page.click("#logout")
    page.fill("#email", "mia@example.com")
    page.fill("#password", "a first password for Mia")
    page.click("#sign-in")
    assert page.inner_text("#role") == "marketing"
