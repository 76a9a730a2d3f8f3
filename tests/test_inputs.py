"""Hostile input on every endpoint gets a clear 4xx, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from invites.api.auth import SCOPES
from invites.inputs import MAX_JSON_DEPTH

from .conftest import auth, new_key

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
