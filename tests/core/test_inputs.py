"""Hostile input on every endpoint gets a clear 4xx, never a 500."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from invites.api.events import MAX_BODY_BYTES as EVENTS_MAX_BODY_BYTES
from invites.core.apikeys import SCOPES
from invites.core.config import Settings
from invites.core.db import db
from invites.core.inputs import MAX_JSON_DEPTH
from invites.invitations.models import Invitation

from ..support.helpers import ROOT, auth, env_for, new_key

PROBLEM = "application/problem+json"


def json_endpoints(app: Flask) -> Iterator[tuple[str, str]]:
    """Every API route that takes a JSON body, from the app's own routing table."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        for method in sorted((rule.methods or set()) & {"POST", "PUT"}):
            # The contact "u-1" exists (see `caller`): a route that looks it up gets as far
            # as reading the body.
            yield method, rule.rule.replace("<user_id>", "u-1").replace("<inviter_id>", "u-1")


@pytest.fixture()
def caller(app: Flask, client: FlaskClient) -> dict[str, str]:
    """Headers of a key with every scope, and the contact u-1 for routes under a contact."""
    headers = auth(new_key(app, list(SCOPES)))
    put = client.put("/api/v1/contacts/u-1", json={"email": "u1@example.com"}, headers=headers)
    assert put.status_code == 201
    return headers


def test_the_walk_finds_every_json_endpoint(app: Flask) -> None:
    found = set(json_endpoints(app))
    assert {("POST", "/api/v1/invitations"), ("PUT", "/api/v1/contacts/u-1/preferences")} <= found
    assert len(found) >= 6


def test_deeply_nested_json_is_a_problem_on_every_endpoint(
    app: Flask, client: FlaskClient, caller: dict[str, str]
) -> None:
    # A 2 KB body that made Python's parser raise RecursionError: a 500 on every JSON endpoint.
    bomb = "[" * 1000 + "]" * 1000
    just_over = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    for method, path in json_endpoints(app):
        for body in (bomb, just_over):
            resp = client.open(
                path, method=method, data=body, headers=caller, content_type="application/json"
            )
            assert resp.status_code == 400, (method, path, resp.get_data(as_text=True))
            assert resp.mimetype == PROBLEM
            problem = resp.get_json()
            assert problem["type"].endswith("/json-too-deep"), (method, path)
            assert str(MAX_JSON_DEPTH) in problem["detail"]


def test_nesting_within_the_limit_is_only_the_wrong_shape(
    client: FlaskClient, caller: dict[str, str]
) -> None:
    within = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    resp = client.post(
        "/api/v1/invitations", data=within, headers=caller, content_type="application/json"
    )
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "body"


def test_nan_and_infinity_are_not_json(client: FlaskClient, caller: dict[str, str]) -> None:
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = '{"user_id": "u-1", "template": "account_welcome", "context": {"name": %s}}'
        resp = client.post(
            "/api/v1/messages",
            data=body % literal,
            headers=caller,
            content_type="application/json",
        )
        assert resp.status_code == 400, literal
        assert resp.get_json()["type"].endswith("/malformed-json")


def api_routes_with_ids(app: Flask) -> Iterator[tuple[str, str, list[str]]]:
    """Every API route with path variables: method, rule and the variables' names."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.arguments:
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                yield method, rule.rule, sorted(rule.arguments)


def _fill(rule: str, names: list[str], value: str) -> str:
    for name in names:
        rule = rule.replace(f"<{name}>", value)
    return rule


def test_a_nul_in_any_body_string_is_refused_on_every_endpoint(
    app: Flask, client: FlaskClient, caller: dict[str, str]
) -> None:
    body = {"policy_version": "2026\u0000-01", "context": {"name": "An\u0000na"}}
    for method, path in json_endpoints(app):
        resp = client.open(path, method=method, json=body, headers=caller)
        assert resp.status_code == 422, (method, path, resp.get_data(as_text=True))
        errors = {e["field"]: e["message"] for e in resp.get_json()["errors"]}
        assert set(errors) == {"policy_version", "context.name"}, (method, path)
        assert "NUL" in errors["policy_version"]


def test_a_consent_with_a_nul_in_its_version_is_refused_and_nothing_changes(
    client: FlaskClient, caller: dict[str, str]
) -> None:
    # PostgreSQL refused the NUL with a 500; SQLite stored it in the consent log.
    for field in ("policy_version", "wording_version"):
        resp = client.put(
            "/api/v1/contacts/u-1/preferences",
            json={"partner_offers": True, "source": "app", field: "v1\u0000"},
            headers=caller,
        )
        assert resp.status_code == 422 and resp.mimetype == PROBLEM
        assert resp.get_json()["errors"][0]["field"] == field
    log = client.get("/api/v1/contacts/u-1/consents", headers=caller).get_json()
    assert log["events"] == []
    contact = client.get("/api/v1/contacts/u-1", headers=caller).get_json()
    assert contact["preferences"]["partner_offers"] is False


def test_half_a_surrogate_pair_is_refused(client: FlaskClient, caller: dict[str, str]) -> None:
    # Valid JSON, but no UTF-8 encoder can write it. Typed fields refused it already; a
    # template's context was queued, to fail in the worker.
    body = '{"user_id": "u-1", "template": "account_welcome", "context": {"name": "\\ud800"}}'
    resp = client.post(
        "/api/v1/messages", data=body, headers=caller, content_type="application/json"
    )
    assert resp.status_code == 422
    assert resp.get_json()["errors"] == [
        {"field": "context.name", "message": "contains a NUL or unpaired surrogate"}
    ]


def test_a_nul_in_any_path_id_is_refused(
    app: Flask, client: FlaskClient, caller: dict[str, str]
) -> None:
    # GET /api/v1/messages/a%00b reached PostgreSQL, which refused it: a 500.
    resp = client.get("/api/v1/messages/a%00b", headers=caller)
    assert resp.status_code == 422 and resp.mimetype == PROBLEM
    assert resp.get_json()["errors"] == [{"field": "message_id", "message": "must not contain NUL"}]
    for method, rule, names in api_routes_with_ids(app):
        resp = client.open(_fill(rule, names, "u%00-1"), method=method, headers=caller, json={})
        assert resp.status_code == 422, (method, rule, resp.get_data(as_text=True))
        assert {e["field"] for e in resp.get_json()["errors"]} == set(names)


def test_path_ids_must_match_their_pattern(
    app: Flask, client: FlaskClient, caller: dict[str, str]
) -> None:
    # A message id is what the service handed out: letters, digits, - and _. Anything else
    # went to the database as it came.
    resp = client.get("/api/v1/messages/not.an.id", headers=caller)
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "message_id"
    assert client.get("/api/v1/messages/Xk3abc", headers=caller).status_code == 404
    for method, rule, names in api_routes_with_ids(app):
        for bad in ("has%20space", "u-1%0A", "x" * 129):
            resp = client.open(_fill(rule, names, bad), method=method, headers=caller, json={})
            assert resp.status_code == 422, (method, rule, bad)
            assert resp.get_json()["errors"][0]["field"] in names


def test_every_path_variable_has_a_pattern(app: Flask) -> None:
    from invites.api.schemas import PATH_IDS

    for _method, rule, names in api_routes_with_ids(app):
        assert set(names) <= set(PATH_IDS), f"{rule}: give its path variables a pattern"


def test_a_nul_in_the_query_string_is_refused(client: FlaskClient, caller: dict[str, str]) -> None:
    for query in ("from=2026-01-01%00", "unused=a%00b", "un%00used=1"):
        resp = client.get(f"/api/v1/stats/invitations?{query}", headers=caller)
        assert resp.status_code == 422, query
        assert "NUL" in resp.get_json()["errors"][0]["message"]


def _post_chunked(base: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    """POST a body with Transfer-Encoding: chunked (no Content-Length) over real HTTP."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    chunks = (body[i : i + 4096] for i in range(0, len(body), 4096))
    conn.request(
        "POST",
        path,
        body=chunks,
        headers={**headers, "Content-Type": "application/json"},
        encode_chunked=True,
    )
    resp = conn.getresponse()
    status, data = resp.status, json.loads(resp.read())
    conn.close()
    return status, data


def _padded(body: dict, size: int) -> bytes:
    """A JSON body padded with trailing spaces to exactly `size` bytes: valid whole or cut."""
    raw = json.dumps(body).encode()
    return raw + b" " * (size - len(raw))


@pytest.fixture()
def gunicorn(app: Flask, settings: Settings) -> Iterator[str]:
    """The app under gunicorn, as in production, on the `app` fixture's database and Redis."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}"]
        + ["wsgi:app"],
        env=env_for(settings),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(params=["werkzeug", "gunicorn"])
def server(request: pytest.FixtureRequest) -> str:
    """The app over real HTTP: werkzeug's server in a thread, or gunicorn."""
    if request.param == "werkzeug":
        return request.getfixturevalue("live")[1]
    return request.getfixturevalue("gunicorn")


def test_a_chunked_body_over_the_limit_is_refused_like_any_other(
    app: Flask, client: FlaskClient, settings: Settings, server: str
) -> None:
    # With no Content-Length the body was cut at MAX_BODY_BYTES and the cut body processed:
    # padded with spaces, the invitation was still valid JSON, and it was sent (202).
    headers = auth(new_key(app, ["invitations"]))
    limit = settings.max_body_bytes
    invitation = {"inviter_id": "u-1", "inviter_name": "Anna", "email": "big@example.com"}
    body = _padded(invitation, limit + 1)
    status, problem = _post_chunked(server, "/api/v1/invitations", body, headers)
    assert status == 413, problem
    assert problem["detail"] == f"The request body is larger than {limit} bytes."
    # The same as with a Content-Length (the test client sends one).
    with_length = client.post(
        "/api/v1/invitations", data=body, headers=headers, content_type="application/json"
    )
    assert with_length.status_code == 413 and with_length.get_json() == problem
    with app.app_context():
        assert db.session.query(Invitation).count() == 0
    # Up to the limit itself a chunked body is read whole.
    status, answer = _post_chunked(server, "/api/v1/invitations", body[:limit], headers)
    assert (status, answer) == (202, {"status": "accepted"})


def test_events_keep_their_larger_limit_for_chunked_bodies(app: Flask, server: str) -> None:
    headers = auth(new_key(app, ["events"]))
    batch = {
        "events": [
            {"email": f"gone{i}@example.com", "type": "soft_bounce", "detail": "4.2.2 " * 30}
            for i in range(400)
        ]
    }
    within = _padded(batch, EVENTS_MAX_BODY_BYTES)
    status, answer = _post_chunked(server, "/api/v1/events", within, headers)
    assert status == 202 and answer["processed"] == 400
    status, problem = _post_chunked(server, "/api/v1/events", within + b" ", headers)
    assert status == 413
    assert problem["detail"] == f"The request body is larger than {EVENTS_MAX_BODY_BYTES} bytes."
