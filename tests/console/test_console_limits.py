"""Sign-in attempts are limited per account and per IP, in Redis: the limit holds across app
instances and across web processes, and an attempt over it gets a readable 429."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from invites.core import audit
from invites.core.config import Settings
from invites.core.db import db

from ..support.helpers import ROOT, env_for, free_port, make_app
from ..support.staff import CSRF_INPUT, PASSWORD, form_token, make_staff

WINDOW = 15 * 60


def _attempt(client: FlaskClient, email: str, password: str, ip: str) -> TestResponse:
    token = form_token(client)
    return client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": ip},
    )


def _assert_429(resp: TestResponse) -> None:
    assert resp.status_code == 429, resp.status_code
    assert "Too many sign-in attempts" in resp.text and 'id="error"' in resp.text
    assert WINDOW - 30 <= int(resp.headers["Retry-After"]) <= WINDOW


def test_per_account_from_any_ip(app: Flask, settings: Settings) -> None:
    limited = make_app(settings, login_limit_per_account="3 per 15 minutes")
    make_staff(limited, "ann@example.com")
    client = limited.test_client()
    for n in range(3):
        resp = _attempt(client, "ann@example.com", "wrong password", f"192.0.2.{n}")
        assert resp.status_code == 200 and "match an active staff account" in resp.text
    # The next attempt, from yet another address and with the right password, is refused
    # without a look at the password; the same email in capitals is the same account.
    _assert_429(_attempt(client, "ANN@example.com", PASSWORD, "198.51.100.1"))
    with limited.app_context():
        recorded = [e for e in audit.recent(db.session) if e.action.startswith("staff.login")]
        assert len(recorded) == 3  # refused attempts were not even checked
    # Another account is not affected.
    make_staff(limited, "bob@example.com")
    assert _attempt(client, "bob@example.com", PASSWORD, "198.51.100.1").status_code == 302


def test_unknown_emails_are_counted_like_known_ones(app: Flask, settings: Settings) -> None:
    limited = make_app(settings, login_limit_per_account="2 per 15 minutes")
    client = limited.test_client()
    for n in range(2):
        assert _attempt(client, "ghost@example.com", "x" * 12, f"192.0.2.{n}").status_code == 200
    # Same answer as for a real account: a 429 doesn't tell whether the email exists.
    _assert_429(_attempt(client, "ghost@example.com", "x" * 12, "192.0.2.9"))


def test_per_ip_across_accounts(app: Flask, settings: Settings) -> None:
    limited = make_app(settings, login_limit_per_ip="4 per 15 minutes")
    make_staff(limited, "ann@example.com")
    client = limited.test_client()
    for n in range(4):
        resp = _attempt(client, f"guess{n}@example.com", "wrong password", "203.0.113.5")
        assert resp.status_code == 200
    _assert_429(_attempt(client, "ann@example.com", PASSWORD, "203.0.113.5"))
    assert _attempt(client, "ann@example.com", PASSWORD, "203.0.113.6").status_code == 302


def test_two_app_instances_share_the_count(app: Flask, settings: Settings) -> None:
    first = make_app(settings, login_limit_per_account="4 per 15 minutes")
    second = make_app(settings, login_limit_per_account="4 per 15 minutes")
    make_staff(first, "ann@example.com")
    clients = [first.test_client(), second.test_client()]
    for n in range(4):
        assert _attempt(clients[n % 2], "ann@example.com", "wrong", "192.0.2.1").status_code == 200
    for client in clients:
        _assert_429(_attempt(client, "ann@example.com", PASSWORD, "192.0.2.1"))


@pytest.fixture()
def gunicorn(app: Flask, settings: Settings) -> Iterator[str]:
    """The app in two gunicorn worker processes, on this test's database and Redis."""
    port = free_port()
    env = env_for(settings) | {"LOGIN_LIMIT_PER_ACCOUNT": "6 per 15 minutes"}
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise AssertionError("gunicorn did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _attempt_over_http(base: str, email: str, password: str) -> httpx.Response:
    # A new connection each time, so gunicorn's two workers both take some of them.
    with httpx.Client(base_url=base) as http:
        token = CSRF_INPUT.search(http.get("/console/login").text)
        assert token
        return http.post(
            "/console/login",
            data={"email": email, "password": password, "csrf_token": token.group(1)},
        )


def test_the_limit_holds_across_processes(app: Flask, settings: Settings, gunicorn: str) -> None:
    here = make_app(settings, login_limit_per_account="6 per 15 minutes")
    make_staff(here, "ann@example.com")
    client = here.test_client()
    for _ in range(2):
        assert _attempt(client, "ann@example.com", "wrong", "127.0.0.1").status_code == 200
        for _ in range(2):
            assert _attempt_over_http(gunicorn, "ann@example.com", "wrong").status_code == 200
    # Six attempts counted: four in gunicorn's processes, two in this one.
    refused = _attempt_over_http(gunicorn, "ann@example.com", PASSWORD)
    assert refused.status_code == 429 and re.search(r"Too many sign-in attempts", refused.text)
    assert 0 < int(refused.headers["Retry-After"]) <= WINDOW
    _assert_429(_attempt(client, "ann@example.com", PASSWORD, "127.0.0.1"))
