"""Request and response schemas: they validate bodies and generate the OpenAPI document."""

from __future__ import annotations

import json
import re
from typing import Any, Literal, TypeVar

from flask import Response, current_app, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from invites.api.fields import (
    IDENTIFIER,
    NO_NUL,
    PATH_IDS,
    Email,
    Identifier,
    SignedToken,
    Text,
    VisibleText,
)
from invites.core.addresses import InvalidAddress, normalize
from invites.core.errors import ApiProblem, invalid, invalid_fields
from invites.core.inputs import UNSTORABLE, unstorable_strings
from invites.core.text import clean_block, clean_line

__all__ = ["IDENTIFIER", "NO_NUL", "PATH_IDS", "Email", "Identifier", "Text"]

NAME_MAX = 80
NOTE_MAX = 500


class Strict(BaseModel):
    """Base for request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class InvitationCreate(Strict):
    """Ask the service to invite a friend."""

    inviter_id: Identifier = Field(description="The inviting user's id in the SpotCam app.")
    inviter_name: VisibleText = Field(
        min_length=1,
        max_length=NAME_MAX,
        description="Shown to the friend as plain text, on one line: control and format "
        "characters are removed, and what is left must not be empty.",
    )
    email: Email = Field(description="The friend's address.")
    locale: Literal["en", "ru"] = Field("en", description="Language of the email and pages.")
    note: Text | None = Field(
        None,
        max_length=NOTE_MAX,
        description="A personal note, plain text, shown in the email.",
    )

    @field_validator("inviter_name")
    @classmethod
    def _name(cls, value: str) -> str:
        cleaned = clean_line(value)
        if not cleaned:
            raise ValueError("must contain visible text")
        return cleaned

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Cleaning only ever shortens the text, so the length limit above still holds.
        return clean_block(value) or None


class Accepted(BaseModel):
    """The request was taken; what happens next is not disclosed."""

    status: Literal["accepted"] = "accepted"


class AcceptRequest(Strict):
    """The app backend reports that an invitee signed up."""

    token: SignedToken = Field(
        description="The token from the accept link (422 if the service didn't sign it)."
    )
    user_id: Identifier = Field(description="The new account's id.")


class AcceptResult(BaseModel):
    """Result of reporting an acceptance."""

    status: Literal["accepted", "already_accepted"]


class FieldError(BaseModel):
    """One invalid field."""

    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None


M = TypeVar("M", bound=BaseModel)


def respond(model: BaseModel, status: int = 200) -> Response:
    """Answer with a response model, as the document shows it (aliases, RFC 3339 times)."""
    body = json.dumps(model.model_dump(mode="json", by_alias=True))
    return Response(body, status=status, mimetype="application/json")


def valid_email(value: str, field: str = "email") -> str:
    """Normalise an address (DNS check only if configured), or raise a 422 naming the field."""
    settings = current_app.config["SETTINGS"]
    try:
        return normalize(value, check_deliverability=settings.check_deliverability)
    except InvalidAddress as exc:
        raise invalid(field, str(exc)) from exc


def check_path_and_query() -> None:
    """Refuse an API request whose path ids break their pattern or whose query holds a NUL."""
    if not request.path.startswith("/api/"):
        return
    for name, value in (request.view_args or {}).items():
        rule = PATH_IDS[name]  # a route whose variable has no rule fails its first test
        if UNSTORABLE.search(value):
            raise invalid(name, "must not contain NUL")
        # fullmatch: a pattern's "$" would let a trailing newline through.
        if not re.fullmatch(rule.chars, value):
            raise invalid(name, rule.message)
    for name, value in request.args.items(multi=True):
        if UNSTORABLE.search(name + value):
            # Every query string the API reads is a date, an id or a number; none is a NUL,
            # and a name holding one is not echoed back.
            raise invalid("query" if UNSTORABLE.search(name) else name, "must not contain NUL")


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Turn pydantic errors into [{field, message}] without echoing the input back."""
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(part) for part in err["loc"]) or "body"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        out.append({"field": loc, "message": message.removeprefix("Value error, ")})
    return out


def parse_body(model: type[M]) -> M:
    """Parse the JSON body into a model or raise a 400/415/422 problem."""
    if not request.is_json:
        raise ApiProblem(
            415,
            "Unsupported Media Type",
            "Send a JSON body with Content-Type: application/json.",
            slug="unsupported-media-type",
        )
    data: Any = request.get_json(silent=True)
    if data is None:
        raise ApiProblem(
            400, "Malformed JSON", "The request body is not valid JSON.", slug="malformed-json"
        )
    if not isinstance(data, dict):
        raise invalid("body", "expected an object", "The body must be a JSON object.")
    unstorable = unstorable_strings(data)
    if unstorable:
        # Before the model: PostgreSQL refuses a NUL in text (a 500), and a name or note
        # would otherwise lose it silently while a version string kept it.
        raise invalid_fields(
            [{"field": f, "message": "contains a NUL or unpaired surrogate"} for f in unstorable],
            "Text may not contain NUL or unpaired surrogate characters.",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_fields(field_errors(exc)) from exc
