"""Account holders: upsert, read, erase; preferences and the consent log."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, create_model, field_validator

from invites.accounts import contacts
from invites.accounts.attributes import ATTRIBUTES, parse_all
from invites.accounts.categories import CATEGORIES, MARKETING
from invites.accounts.models import Contact
from invites.api import spec
from invites.api.auth import require
from invites.api.fields import Email, Text, TimeZone, UtcDateTime
from invites.api.schemas import NAME_MAX, Strict, parse_body, respond, valid_email
from invites.core.db import db, utcnow
from invites.core.errors import ApiProblem, invalid, invalid_fields
from invites.core.text import clean_line
from invites.datarequests import erasure
from invites.privacy.consent import UnknownPolicyVersion

bp = Blueprint("api_contacts", __name__, url_prefix="/api/v1/contacts")

#: Sources an API caller may name; pages and complaints record their own.
API_SOURCES = ("app", "api", "support")


def _document_attributes(schema: dict[str, Any]) -> None:
    """Each declared attribute with its type; any other name is a 422."""
    schema.clear()
    schema.update(
        {
            "type": "object",
            "description": "Declared attributes (the attribute register): when given, the "
            "contact's whole set (a name left out or null is no longer held); when absent, "
            "unchanged. An undeclared name is a 422 naming it.",
            "properties": {name: a.schema() for name, a in ATTRIBUTES.items()},
            "additionalProperties": False,
        }
    )


class ContactIn(Strict):
    """An account holder as the app backend knows them."""

    email: Email
    locale: Literal["en", "ru"] = "en"
    name: Text | None = Field(
        None, max_length=NAME_MAX, description="Plain text, one line (control characters go)."
    )
    time_zone: TimeZone | None = Field(
        None,
        description="IANA time zone, for campaigns sent at a local hour (e.g. Europe/Moscow); "
        "one of the names listed.",
    )
    # Checked against the register in the view, so that every bad name and value is named.
    attributes: dict[str, Any] | None = Field(None, json_schema_extra=_document_attributes)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "\r" in value or "\n" in value or "\u2028" in value or "\u2029" in value:
            # A name is one line; quietly joining two would store something nobody typed.
            raise ValueError("must be one line (no line breaks)")
        return clean_line(value) or None


class ContactOut(BaseModel):
    """What the service holds about an account holder."""

    user_id: str
    email: str
    locale: str
    name: str | None
    time_zone: str | None
    attributes: dict[str, str] = Field(
        description='Declared attributes held, as stored: ISO dates, "true"/"false", '
        "numbers as text."
    )
    preferences: dict[str, bool] = Field(description="Whether each category may be sent now.")
    created_at: UtcDateTime
    updated_at: UtcDateTime


def _document_preferences_in(schema: dict[str, Any]) -> None:
    """At least one category, given as true or false (a null leaves it as it is)."""
    schema["anyOf"] = [
        {"required": [name], "properties": {name: {"type": "boolean"}}} for name in MARKETING
    ]


class _PreferencesBase(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_document_preferences_in)

    source: Literal["app", "api", "support"] = Field(description="Where the choice was made.")
    policy_version: Text | None = Field(
        None,
        max_length=64,
        description="The published privacy-policy version the person agreed under (a label "
        "from /privacy/policy/versions); default: the version in force. Any other is a 422.",
    )
    wording_version: Text | None = Field(
        None, max_length=64, description="Version of the wording the person saw."
    )


# One optional boolean per switchable category, straight from the register.
PreferencesIn: type[_PreferencesBase] = create_model(  # type: ignore[call-overload]
    "PreferencesIn",
    __base__=_PreferencesBase,
    __doc__="Change preferences; categories left out stay as they are.",
    **{
        name: (StrictBool | None, Field(None, description=CATEGORIES[name].description["en"]))
        for name in MARKETING
    },
)


class ConsentOut(BaseModel):
    """One grant or withdrawal."""

    category: str
    granted: bool
    source: str
    policy_version: str | None
    wording_version: str | None
    ip: str | None
    at: UtcDateTime


class ConsentLog(BaseModel):
    """A contact's consent log, oldest first."""

    user_id: str
    events: list[ConsentOut]


def _contact_or_404(user_id: str) -> Contact:
    found = contacts.find(db.session, user_id)
    if found is None:
        raise ApiProblem(404, "Not Found", "No contact with this user id.", slug="not-found")
    return found


def _out(contact: Contact) -> ContactOut:
    settings = current_app.config["SETTINGS"]
    return ContactOut(
        user_id=contact.user_id,
        email=contact.email,
        locale=contact.locale,
        name=contact.name,
        time_zone=contact.time_zone,
        attributes=contacts.attributes(db.session, contact),
        preferences=contacts.current(db.session, contact, settings),
        created_at=contact.created_at,
        updated_at=contact.updated_at,
    )


@bp.put("/<user_id>")
@require("contacts")
def put_contact(user_id: str) -> Response:
    """Create or update an account holder (an address change keeps their choices)."""
    body = parse_body(ContactIn)
    values: dict[str, str | None] | None = None
    if body.attributes is not None:
        values, errors = parse_all(body.attributes)
        if errors:
            raise invalid_fields(
                [{"field": f"attributes.{n}", "message": m} for n, m in sorted(errors.items())]
            )
    settings = current_app.config["SETTINGS"]
    contact, created = contacts.upsert(
        db.session,
        user_id,
        valid_email(body.email),
        body.locale,
        body.name,
        settings,
        utcnow(),
        time_zone=body.time_zone,
    )
    if values is not None:
        contacts.set_attributes(db.session, contact, values, utcnow())
    db.session.commit()
    return respond(_out(contact), 201 if created else 200)


@bp.get("/<user_id>")
@require("contacts")
def get_contact(user_id: str) -> Response:
    """Return what is held about an account holder."""
    return respond(_out(_contact_or_404(user_id)))


@bp.delete("/<user_id>")
@require("contacts")
def delete_contact(user_id: str) -> Response:
    """Erase an account holder and everything tied to them (idempotent).

    The same code path as "Erase everything" on the data page: the contact, preferences,
    consent history, invitations and message history tied to the address, campaign delivery
    records included."""
    contact = contacts.find(db.session, user_id)
    if contact is not None:
        erasure.erase_contact(db.session, contact, utcnow())
        db.session.commit()
    return Response(status=204)


@bp.put("/<user_id>/preferences")
@require("contacts")
def put_preferences(user_id: str) -> Response:
    """Grant or withdraw categories; each real change goes into the consent log."""
    contact = _contact_or_404(user_id)
    raw = request.get_json(silent=True)
    if isinstance(raw, dict) and "service" in raw:
        raise invalid("service", "service email cannot be turned off")
    body = parse_body(PreferencesIn)
    chosen = {name: getattr(body, name) for name in MARKETING if getattr(body, name) is not None}
    if not chosen:
        raise invalid("body", f"name at least one category: {', '.join(MARKETING)}")
    settings = current_app.config["SETTINGS"]
    changes = [
        contacts.Change(
            name,
            granted,
            body.source,
            policy_version=body.policy_version,
            wording_version=body.wording_version,
        )
        for name, granted in chosen.items()
    ]
    try:
        contacts.apply(db.session, contact, changes, settings, utcnow())
    except UnknownPolicyVersion as exc:
        db.session.rollback()
        raise invalid("policy_version", f"{exc}; see /privacy/policy/versions") from exc
    db.session.commit()
    return respond(_out(contact))


@bp.get("/<user_id>/consents")
@require("contacts")
def get_consents(user_id: str) -> Response:
    """Return the contact's consent log, oldest first."""
    contact = _contact_or_404(user_id)
    events = [
        ConsentOut(
            category=e.category,
            granted=e.granted,
            source=e.source,
            policy_version=e.policy_version,
            wording_version=e.wording_version,
            ip=e.ip,
            at=e.created_at,
        )
        for e in contacts.consent_log(db.session, contact)
    ]
    return respond(ConsentLog(user_id=contact.user_id, events=events))


_USER = spec.path_param("user_id", "The account's id in the SpotCam app")
#: Where a contact's id leads once it exists.
_LINKS = {
    "contact": spec.link(
        "/api/v1/contacts/{user_id}",
        "get",
        "What is held about them.",
        user_id="$response.body#/user_id",
    ),
    "preferences": spec.link(
        "/api/v1/contacts/{user_id}/preferences",
        "put",
        "Grant or withdraw their categories.",
        user_id="$response.body#/user_id",
    ),
    "consents": spec.link(
        "/api/v1/contacts/{user_id}/consents",
        "get",
        "Their consent log.",
        user_id="$response.body#/user_id",
    ),
}
MODELS = [ContactIn, ContactOut, PreferencesIn, ConsentLog]
PATHS = {
    "/api/v1/contacts/{user_id}": {
        "put": {
            "summary": "Create or update an account holder (scope: contacts)",
            "parameters": [_USER],
            "requestBody": spec.json_body(ContactIn),
            "responses": {
                "200": spec.json_response(ContactOut, "Updated", links=_LINKS),
                "201": spec.json_response(ContactOut, "Created", links=_LINKS),
                **spec.problems(400, 401, 403, 413, 415, 422),
            },
        },
        "get": {
            "summary": "What is held about an account holder (scope: contacts)",
            "parameters": [_USER],
            "responses": {
                "200": spec.json_response(ContactOut, "The contact"),
                **spec.problems(401, 403, 404, 422),
            },
        },
        "delete": {
            "summary": "Erase an account holder and everything tied to them (scope: contacts)",
            "parameters": [_USER],
            "responses": {
                "204": {"description": "Erased (or never held)"},
                **spec.problems(401, 403, 422),
            },
        },
    },
    "/api/v1/contacts/{user_id}/preferences": {
        "put": {
            "summary": "Grant or withdraw categories (scope: contacts)",
            "parameters": [_USER],
            "requestBody": spec.json_body(PreferencesIn),
            "responses": {
                "200": spec.json_response(ContactOut, "The contact with its preferences"),
                **spec.problems(400, 401, 403, 404, 413, 415, 422),
            },
        }
    },
    "/api/v1/contacts/{user_id}/consents": {
        "get": {
            "summary": "The consent log, oldest first (scope: contacts)",
            "parameters": [_USER],
            "responses": {
                "200": spec.json_response(ConsentLog, "Every grant and withdrawal"),
                **spec.problems(401, 403, 404, 422),
            },
        }
    },
}
