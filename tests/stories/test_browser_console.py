"""A person in headless Chromium signs in to the console, uses it, and signs out; changes
their password, sets a new one from a reset link that arrived by email, and signs in with
a two-factor code."""

from __future__ import annotations

from pathlib import Path

import pyotp
from flask import Flask
from playwright.sync_api import Page

from invites.core.db import db
from invites.staff import Role, users

from ..support.browser import shot
from ..support.helpers import link_to, run_jobs
from ..support.smtpd import SMTPSink
from ..support.staff import PASSWORD, make_staff, totp_code

NEW_PASSWORD = "a new password from the browser"  # noqa: S105 - a test password


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
        "Data requests",
    ]
    page.set_viewport_size({"width": 390, "height": 800})  # a phone: nothing wider than it
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, tmp_path, "console-home.png")
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
    shot(page, tmp_path, "console-staff-users.png")
    with app.app_context():
        mia = users.find_by_email(db.session, "mia@example.com")
        assert mia is not None and mia.role == Role.MARKETING
        db.session.remove()
    page.click("#logout")
    page.fill("#email", "mia@example.com")
    page.fill("#password", "a first password for Mia")
    page.click("#sign-in")
    assert page.inner_text("#role") == "marketing"


def test_change_your_own_password(live: tuple[Flask, str], page: Page) -> None:
    app, base = live
    make_staff(app, "mia@example.com")
    laptop = page.context.browser.new_page() if page.context.browser else None
    assert laptop is not None
    _sign_in(laptop, base, "mia@example.com")  # signed in on another device too
    assert laptop.url == base + "/console/"
    _sign_in(page, base, "mia@example.com")
    page.click("#account-link")
    assert page.url == base + "/console/account"
    page.fill("#current-password", "not the password")
    page.fill("#new-password", NEW_PASSWORD)
    page.fill("#new-password-again", NEW_PASSWORD)
    page.click("#save-password")
    assert "the current password is not right" in page.inner_text("#account-error")
    page.fill("#current-password", PASSWORD)
    page.fill("#new-password", NEW_PASSWORD)
    page.fill("#new-password-again", NEW_PASSWORD)
    page.click("#save-password")
    assert page.url == base + "/console/account"
    assert page.inner_text("p.flash") == (
        "Your password is changed. Your other sessions have ended."
    )
    page.goto(base + "/console/users")  # still signed in here (a 403: marketing)
    assert "mia@example.com" in page.inner_text("#whoami")
    laptop.goto(base + "/console/")
    assert laptop.url.startswith(base + "/console/login")  # the other device is out
    _sign_in(laptop, base, "mia@example.com", NEW_PASSWORD)
    assert laptop.inner_text("#role") == "marketing"


def test_a_reset_link_from_the_email_that_arrived(
    live: tuple[Flask, str], smtp_sink: SMTPSink, page: Page
) -> None:
    app, base = live
    make_staff(app, "boss@example.com", Role.ADMIN)
    make_staff(app, "mia@example.com")
    _sign_in(page, base, "boss@example.com")
    page.click("nav >> text=Staff users")
    page.locator('tr[data-email="mia@example.com"]').locator("text=Send reset link").click()
    assert page.inner_text("p.flash").startswith(
        "A password-reset link is on its way to mia@example.com"
    )
    assert "/console/reset/" not in page.content()
    page.click("#logout")
    run_jobs(app)  # the outbox's relay and a worker, as the scheduler and a worker would
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["mia@example.com"]
    link = base + link_to(mail, "/console/reset/")
    page.goto(link)
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password-again", NEW_PASSWORD + " but different")
    page.click("#set-password")
    assert "The two passwords differ" in page.inner_text("#reset-error")
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password-again", NEW_PASSWORD)
    page.click("#set-password")
    assert page.url == base + "/console/login"
    assert page.inner_text("p.flash") == "Your new password is set. Sign in with it."
    _sign_in(page, base, "mia@example.com", NEW_PASSWORD)
    assert page.inner_text("#role") == "marketing"
    response = page.goto(link)  # used once: never again
    assert response is not None and response.status == 410
    assert "be used again" in page.inner_text("#error h1")


def test_two_factor_set_up_then_sign_in_with_a_code(
    live: tuple[Flask, str], page: Page, tmp_path: Path
) -> None:
    app, base = live
    make_staff(app, "mia@example.com")
    _sign_in(page, base, "mia@example.com")
    page.click("#account-link")
    page.click("#set-up-two-factor")
    page.click("#start-two-factor")
    assert page.locator("#qr svg").count() == 1
    secret = page.inner_text("#secret").strip()
    page.set_viewport_size({"width": 390, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, tmp_path, "console-two-factor.png")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("#confirm-two-factor")
    assert page.locator("#recovery-codes li").count() == 10
    page.click("#done")
    assert page.inner_text("#two-factor-state") == "on"
    page.click("#logout")
    _sign_in(page, base, "mia@example.com")
    assert page.url == base + "/console/login/code?next=/console/"
    page.fill("#code", "000000" if totp_code(secret, 1) != "000000" else "111111")
    page.click("#verify")
    assert "That code is not right" in page.inner_text("#code-error")
    # The set-up used this window's code; an app shows the next one half a minute later.
    page.fill("#code", totp_code(secret, 1))
    page.click("#verify")
    assert page.url == base + "/console/"
    assert page.inner_text("#role") == "marketing"
