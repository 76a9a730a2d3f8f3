"""Request and response schemas: they validate bodies and generate the OpenAPI document."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from flask import current_app, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..addresses import InvalidAddress, normalize
from ..errors import ApiProblem
from ..inputs import UNSTORABLE, unstorable_strings
from ..text import clean_block, clean_line

_IDENTIFIER = "[A-Za-z0-9._:@-]{1,128}"
IDENTIFIER = f"^{_IDENTIFIER}$"
NAME_MAX = 80
NOTE_MAX = 500
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=IDENTIFIER)]


@dataclass(frozen=True)
class PathId:
    """What a path variable of the API may hold: the whole value matches `chars`."""

    chars: str
    message: str

    @property
    def pattern(self) -> str:
        """The JSON Schema pattern (anchored: JSON Schema patterns match anywhere)."""
        return f"^{self.chars}$"


#: Every path variable of the API, by name: checked on each request, shown in the document.
PATH_IDS = {
    "user_id": PathId(_IDENTIFIER, "1-128 letters, digits or . _ : @ -"),
    "inviter_id": PathId(_IDENTIFIER, "1-128 letters, digits or . _ : @ -"),
    # The random ids the service hands out (secrets.token_urlsafe).
    "message_id": PathId("[A-Za-z0-9_-]{1,64}", "the id given when the message was queued"),
}


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
    """One inviter's own counts: what they asked for, never what was sent."""

    inviter_id: str
    invited: int = Field(
        description="Invitations the API accepted (202) from this inviter, whether or not an "
        "email went out: that depends on the address, which the API never reveals. Requests "
        "refused over a limit (429) are not counted."
    )
    accepted: int = Field(description="Invitations of this inviter that the invitee accepted.")


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
    unstorable = unstorable_strings(data)
    if unstorable:
        # Before the model: PostgreSQL refuses a NUL in text (a 500), and a name or note
        # would otherwise lose it silently while a version string kept it.
        raise ApiProblem(
            422,
            "Invalid request",
            "Text may not contain NUL or unpaired surrogate characters.",
            slug="validation",
            errors=[
                {"field": f, "message": "contains a NUL or unpaired surrogate"} for f in unstorable
            ],
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
