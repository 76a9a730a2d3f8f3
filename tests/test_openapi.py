"""The OpenAPI document is public and describes what the validators enforce."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Flask

from invites.api.schemas import NAME_MAX, NOTE_MAX


def test_document(app: Flask) -> None:
    resp = app.test_client().get("/api/v1/openapi.json")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/api/v1/invitations",
        "/api/v1/invitations/accept",
        "/api/v1/stats/invitations",
        "/api/v1/inviters/{inviter_id}/stats",
        "/api/v1/contacts/{user_id}",
        "/api/v1/contacts/{user_id}/preferences",
        "/api/v1/contacts/{user_id}/consents",
        "/api/v1/messages",
        "/api/v1/messages/{message_id}",
        "/api/v1/events",
    }
    assert set(doc["paths"]["/api/v1/contacts/{user_id}"]) == {"put", "get", "delete"}
    prefs = doc["components"]["schemas"]["PreferencesIn"]["properties"]
    assert {"promotional", "partner_offers", "source"} <= set(prefs) and "service" not in prefs
    create = doc["components"]["schemas"]["InvitationCreate"]
    assert set(create["required"]) == {"inviter_id", "inviter_name", "email"}
    assert create["additionalProperties"] is False
    assert create["properties"]["locale"]["enum"] == ["en", "ru"]
    responses = doc["paths"]["/api/v1/invitations"]["post"]["responses"]
    assert {"202", "400", "401", "403", "413", "422", "429"} <= set(responses)
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert create["properties"]["inviter_name"]["maxLength"] == NAME_MAX
    assert create["properties"]["note"]["anyOf"][0]["maxLength"] == NOTE_MAX
    refs = list(_refs(doc))
    assert len(refs) > 10
    for ref in refs:
        assert ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"], ref


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_unknown_api_paths_are_problems(app: Flask) -> None:
    client = app.test_client()
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    resp = client.get("/api/v1/invitations")
    assert resp.status_code == 405 and resp.mimetype == "application/problem+json"
    page = client.get("/no-such-page")
    assert page.status_code == 404 and "Not Found" in page.get_data(as_text=True)
    assert page.mimetype == "text/html"
