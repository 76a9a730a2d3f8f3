"""Request and response schemas: they validate bodies and generate the OpenAPI document."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from flask import current_app, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..addresses import InvalidAddress, normalize
from ..errors import ApiProblem
from ..text import clean_block, clean_line

IDENTIFIER = r"^[A-Za-z0-9._:@-]+$"
NAME_MAX = 80
NOTE_MAX = 500
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=IDENTIFIER)]


class Strict(BaseModel):
    """Base for request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class InvitationCreate(Strict):
    """Ask the service to invite a friend."""

    inviter_id: Identifier = Field(description="The inviting user's id in the SpotCam app.")
    inviter_name: str = Field(
        min_length=1, max_length=NAME_MAX, description="Shown to the friend as plain text."
    )
    email: str = Field(min_length=3, max_length=320, description="The friend's address.")
    locale: Literal["en", "ru"] = Field("en", description="Language of the email and pages.")
    note: str | None = Field(
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

    token: str = Field(min_length=1, max_length=512, description="The token from the accept link.")
    user_id: Identifier = Field(description="The new account's id.")


class AcceptResult(BaseModel):
    """Result of reporting an acceptance."""

    status: Literal["accepted", "already_accepted"]


class DayStats(BaseModel):
    """Aggregate invitation counts for one day."""

    day: date
    sent: int
    accepted: int
    removed: int
    expired: int
    bounced: int
    suppressed: int


class InvitationStats(BaseModel):
    """Per-day invitation counts over a range, and their totals."""

    from_: date = Field(alias="from")
    to: date
    days: list[DayStats]
    totals: dict[str, int]


class InviterStats(BaseModel):
    """One inviter's own counts."""

    inviter_id: str
    sent: int
    accepted: int


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


def valid_email(value: str, field: str = "email") -> str:
    """Normalise an address (DNS check only if configured), or raise a 422 naming the field."""
    settings = current_app.config["SETTINGS"]
    try:
        return normalize(value, check_deliverability=settings.check_deliverability)
    except InvalidAddress as exc:
        raise invalid(field, str(exc)) from exc


def check_identifier(field: str, value: str) -> str:
    """Return an id from a URL path, or raise a 422 naming the field."""
    if not (0 < len(value) <= 128 and re.match(IDENTIFIER, value)):
        raise invalid(field, "1-128 letters, digits or . _ : @ -")
    return value


def invalid(
    field: str, message: str, detail: str = "One or more fields are invalid."
) -> ApiProblem:
    """A 422 problem naming one invalid field."""
    return ApiProblem(
        422,
        "Invalid request",
        detail,
        slug="validation",
        errors=[{"field": field, "message": message}],
    )


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
        raise ApiProblem(
            422,
            "Invalid request",
            "The body must be a JSON object.",
            slug="validation",
            errors=[{"field": "body", "message": "expected an object"}],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiProblem(
            422,
            "Invalid request",
            "One or more fields are invalid.",
            slug="validation",
            errors=field_errors(exc),
        ) from exc
