"""The OpenAPI document is public and describes what the validators enforce."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from flask import Flask

from invites.api.schemas import NAME_MAX, NOTE_MAX, PATH_IDS

from ..support.helpers import auth, new_key


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
        "/api/v1/privacy/processing",
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
    assert page.status_code == 404 and "Page not found" in page.get_data(as_text=True)
    assert page.mimetype == "text/html"


def _walk(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, key)
    else:
        yield key, node


def test_every_datetime_the_api_emits_has_a_utc_offset(app: Flask) -> None:
    # "2026-12-02T15:42:08.927665" isn't RFC 3339 (format date-time): the offset was missing.
    client = app.test_client()
    h = auth(new_key(app, ["contacts", "messages"]))
    answers = [client.put("/api/v1/contacts/u-1", json={"email": "t@example.com"}, headers=h)]
    answers.append(
        client.put(
            "/api/v1/contacts/u-1/preferences",
            json={"partner_offers": True, "source": "app"},
            headers=h,
        )
    )
    sent = client.post(
        "/api/v1/messages",
        json={"user_id": "u-1", "template": "account_welcome", "context": {"name": "T"}},
        headers=h,
    )
    answers += [
        client.get("/api/v1/contacts/u-1", headers=h),
        client.get("/api/v1/contacts/u-1/consents", headers=h),
        client.get(f"/api/v1/messages/{sent.get_json()['id']}", headers=h),
    ]
    stamps = [
        value
        for answer in answers
        for key, value in _walk(answer.get_json())
        if (key == "at" or key.endswith("_at")) and value is not None
    ]
    assert len(stamps) >= 8
    for stamp in stamps:
        assert stamp.endswith("Z"), stamp
        assert datetime.fromisoformat(stamp).utcoffset() == timedelta(0)


def _doc(app: Flask) -> dict[str, Any]:
    return app.test_client().get("/api/v1/openapi.json").get_json()


def test_the_document_shows_the_formats_and_patterns_enforced(app: Flask) -> None:
    doc = _doc(app)
    schemas = doc["components"]["schemas"]
    for model in ("InvitationCreate", "ContactIn", "MessageIn"):
        email = schemas[model]["properties"]["email"]
        assert "email" in {email.get("format"), *(s.get("format") for s in email.get("anyOf", []))}
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            documented = {
                p["name"]: p for p in operation.get("parameters", []) if p["in"] == "path"
            }
            assert set(documented) == set(re.findall(r"{(\w+)}", path)), path
            for name, parameter in documented.items():
                assert parameter["schema"]["pattern"] == PATH_IDS[name].pattern
    times = [value for key, value in _walk(schemas) if key == "format" and value == "date-time"]
    assert len(times) == 5  # contact created/updated, consent at, message created/sent


def test_idempotency_keys_the_document_allows_are_the_ones_taken(app: Flask) -> None:
    doc = _doc(app)
    [header] = [
        p
        for p in doc["paths"]["/api/v1/invitations"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    ]
    pattern = header["schema"]["pattern"]
    client = app.test_client()
    key = new_key(app, ["invitations"])
    for i, candidate in enumerate(["k-1", "!~", "x" * 255, "x" * 256, "has space", "tab\t", "é"]):
        body = {"inviter_id": "u-1", "inviter_name": "A", "email": f"k{i}@example.com"}
        resp = client.post(
            "/api/v1/invitations", json=body, headers=auth(key, **{"Idempotency-Key": candidate})
        )
        assert (resp.status_code == 202) is bool(re.fullmatch(pattern, candidate)), candidate


def test_a_message_as_the_document_describes_it_is_accepted(app: Flask) -> None:
    from invites.accounts.mail import SERVICE_TEMPLATES

    schema = _doc(app)["components"]["schemas"]["MessageIn"]
    assert schema["properties"]["template"]["enum"] == list(SERVICE_TEMPLATES)
    recipients, templates = (part["oneOf"] for part in schema["allOf"])
    assert [r["required"] for r in recipients] == [["user_id"], ["email"]]
    client = app.test_client()
    key = new_key(app, ["messages"])
    # Each template's documented context, filled in, is exactly what the service takes.
    for branch in templates:
        context = branch["properties"]["context"]
        body = {
            "email": "reader@example.com",
            "template": branch["properties"]["template"]["const"],
            "context": {name: "x" for name in context["required"]},
        }
        assert client.post("/api/v1/messages", json=body, headers=auth(key)).status_code == 202
        body["context"]["extra"] = "x"
        assert client.post("/api/v1/messages", json=body, headers=auth(key)).status_code == 422
    # Both recipients, or neither, match both or no branch: the document refuses them too.
    both = {"user_id": "u", "email": "a@example.com", "template": "account_welcome"}
    assert client.post("/api/v1/messages", json=both, headers=auth(key)).status_code == 422


def test_stats_dates_the_document_allows_are_the_ones_taken(app: Flask) -> None:
    doc = _doc(app)
    parameters = doc["paths"]["/api/v1/stats/invitations"]["get"]["parameters"]
    patterns = {p["name"]: p["schema"]["pattern"] for p in parameters}
    assert "366 days" in doc["paths"]["/api/v1/stats/invitations"]["get"]["description"]
    client = app.test_client()
    key = new_key(app, ["stats"])
    for day in ("2026-11-01", "2000-01-01", "2999-12-31", "1999-12-31", "3000-01-01", "20261101"):
        resp = client.get(f"/api/v1/stats/invitations?from={day}&to={day}", headers=auth(key))
        assert (resp.status_code == 200) is bool(re.fullmatch(patterns["from"], day)), day


def test_addresses_the_document_allows_are_the_ones_taken(app: Flask) -> None:
    # format: email alone allowed x@u.0.test, which email-validator refuses (special-use).
    pattern = _doc(app)["components"]["schemas"]["ContactIn"]["properties"]["email"]["pattern"]
    client = app.test_client()
    key = new_key(app, ["contacts"])
    samples = [
        "anna+x@Example.COM",
        "a@пример.рф",
        "a@b.xn--p1ai",
        "a@test.com",
        "x@u.0.test",
        "a@ex.LOCAL",
        "a@localhost",
        "a@b.0",
        "a@b.c0",
        '"q"@example.com',
        "a@[192.0.2.1]",
        "a@example.com.",
    ]
    for i, address in enumerate(samples):
        resp = client.put(f"/api/v1/contacts/u-{i}", json={"email": address}, headers=auth(key))
        assert (resp.status_code == 201) is bool(re.fullmatch(pattern, address)), address


def test_every_api_route_needs_a_scope_or_is_public(app: Flask) -> None:
    from invites.core.apikeys import SCOPES

    routes = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/")]
    assert len(routes) >= 10
    for rule in routes:
        view = app.view_functions[rule.endpoint]
        scope = getattr(view, "api_scope", None)
        assert getattr(view, "api_public", False) or scope in SCOPES, rule.rule


def test_a_route_without_a_declared_scope_is_refused_to_every_key(app: Flask) -> None:
    # A view someone forgot to mark, in the API's route group (its endpoint says so).
    app.add_url_rule("/api/v1/forgotten", endpoint="api.forgotten", view_func=lambda: "secret")
    key = new_key(app, ["invitations", "stats", "contacts", "messages", "events"])
    resp = app.test_client().get("/api/v1/forgotten", headers=auth(key))
    assert resp.status_code == 403


#: The models of request bodies (the rest describe answers).
REQUESTS = (
    "AcceptRequest",
    "BounceEvent",
    "BounceEventBatch",
    "ContactIn",
    "InvitationCreate",
    "MessageIn",
    "PreferencesIn",
)


def _strings(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema of a string in a request model, with where it is."""
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "string" or (isinstance(kind, list) and "string" in kind):
        yield where, node
    for key in ("anyOf", "oneOf", "allOf"):
        for n, sub in enumerate(node.get(key, [])):
            yield from _strings(sub, f"{where}/{key}{n}")
    for name, sub in node.get("properties", {}).items():
        yield from _strings(sub, f"{where}/{name}")
    yield from _strings(node.get("items"), f"{where}/items")


def test_every_string_a_request_takes_says_what_it_refuses(app: Flask) -> None:
    # schemathesis (README, API) counts a schema-valid request the service refuses as a
    # defect (ST202): a NUL in a bounce's detail or an unknown time zone used to be one.
    schemas = _doc(app)["components"]["schemas"]
    checked = 0
    for model in REQUESTS:
        for where, string in _strings(schemas[model], model):
            if "enum" in string or "const" in string:
                checked += 1
                continue
            if "pattern" not in string:
                # Only the narrowing branches of MessageIn's oneOf: the field has its own.
                assert where.startswith("MessageIn/allOf0/oneOf"), where
                continue
            assert not re.search(string["pattern"], "a\x00b"), where
            checked += 1
    assert checked > 20
    zone = schemas["ContactIn"]["properties"]["time_zone"]["anyOf"][0]
    assert "Europe/Moscow" in zone["enum"] and "America" not in zone["enum"]


def test_a_bounce_detail_the_document_allows_is_taken(app: Flask) -> None:
    client = app.test_client()
    key = new_key(app, ["events"])
    event = _doc(app)["components"]["schemas"]["BounceEvent"]["properties"]
    pattern = event["detail"]["anyOf"][0]["pattern"]
    for detail in ("550 5.1.1 no such user", "", "ünïcødé\ttab", "nul\x00inside"):
        resp = client.post(
            "/api/v1/events",
            json={"email": "gone@example.com", "type": "soft_bounce", "detail": detail},
            headers=auth(key),
        )
        assert (resp.status_code == 202) is bool(re.fullmatch(pattern, detail)), detail
