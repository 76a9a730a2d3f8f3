"""Contact attributes through the API: declared names only, typed values, erased with the
contact, listed by the processing register."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from invites.accounts.attributes import ATTRIBUTES
from invites.privacy import register

from ..support.helpers import all_database_text, auth, new_key

PROBLEM = "application/problem+json"


def _put(client: FlaskClient, key: str, **attributes: object) -> TestResponse:
    body = {"email": "ana.attr@example.com", "name": "Ana Attr", "attributes": attributes}
    return client.put("/api/v1/contacts/u-7", json=body, headers=auth(key))


def test_declared_attributes_are_stored_typed_and_replaced_as_a_set(app: Flask) -> None:
    client = app.test_client()
    key = new_key(app, ["contacts"])
    made = _put(client, key, country="de", plan="pro", signed_up_on="2026-03-02")
    assert made.status_code == 201, made.get_data(as_text=True)
    assert made.get_json()["attributes"] == {
        "country": "DE",
        "plan": "pro",
        "signed_up_on": "2026-03-02",
    }
    # The given object is the whole set: plan left out and country null are no longer held.
    again = _put(client, key, country=None, camera_model="spotcam-hd")
    assert again.status_code == 200
    assert again.get_json()["attributes"] == {"camera_model": "spotcam-hd"}
    # No `attributes` key: they stay as they are.
    same = client.put(
        "/api/v1/contacts/u-7", json={"email": "ana.attr@example.com"}, headers=auth(key)
    )
    assert same.get_json()["attributes"] == {"camera_model": "spotcam-hd"}
    got = client.get("/api/v1/contacts/u-7", headers=auth(key)).get_json()
    assert got["attributes"] == {"camera_model": "spotcam-hd"}


def test_undeclared_names_and_bad_values_are_a_422_naming_each(app: Flask) -> None:
    client = app.test_client()
    key = new_key(app, ["contacts"])
    _put(client, key, plan="free")
    refused = _put(
        client,
        key,
        shoe_size=42,
        favourite="blue",
        country="Germany",
        plan="gold",
        signed_up_on="02/03/2026",
    )
    assert refused.status_code == 422 and refused.mimetype == PROBLEM
    errors = {e["field"]: e["message"] for e in refused.get_json()["errors"]}
    assert set(errors) == {
        "attributes.shoe_size",
        "attributes.favourite",
        "attributes.country",
        "attributes.plan",
        "attributes.signed_up_on",
    }
    assert "undeclared" in errors["attributes.shoe_size"]
    assert "free, plus, pro" in errors["attributes.plan"]
    assert "YYYY-MM-DD" in errors["attributes.signed_up_on"]
    assert "ana.attr" not in refused.get_data(as_text=True)
    # Nothing was written.
    got = client.get("/api/v1/contacts/u-7", headers=auth(key)).get_json()
    assert got["attributes"] == {"plan": "free"}
    wrong_type = _put(client, key, signed_up_on=20260302)
    assert wrong_type.status_code == 422
    assert wrong_type.get_json()["errors"][0]["field"] == "attributes.signed_up_on"


def test_erasing_the_contact_erases_its_attributes(app: Flask) -> None:
    client = app.test_client()
    key = new_key(app, ["contacts"])
    _put(client, key, country="LI", camera_model="spotcam-outdoor")
    assert "spotcam-outdoor" in all_database_text(app)
    assert client.delete("/api/v1/contacts/u-7", headers=auth(key)).status_code == 204
    stored = all_database_text(app)
    assert "spotcam-outdoor" not in stored and "LI" not in stored.split()


def test_the_document_lists_each_attribute_with_its_type(app: Flask) -> None:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    schema = doc["components"]["schemas"]["ContactIn"]["properties"]["attributes"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(ATTRIBUTES)
    plan = schema["properties"]["plan"]["anyOf"][0]
    assert plan["enum"] == ["free", "plus", "pro"]
    assert schema["properties"]["signed_up_on"]["anyOf"][0]["format"] == "date"


def test_every_attribute_is_held_for_a_purpose_of_the_processing_register() -> None:
    held_for = {
        p.name for p in register.purposes() if any(h.table == "contact_attributes" for h in p.data)
    }
    for attribute in ATTRIBUTES.values():
        assert attribute.purposes, attribute.name
        assert set(attribute.purposes) <= held_for, attribute.name
        assert attribute.description and attribute.label
