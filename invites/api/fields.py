"""Field types the API's models share, each written once with what the document says of it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import AfterValidator, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from invites.core.zones import UnknownZone, check_zone, zone_names

#: No NUL anywhere: the body parser refuses one in any string (inputs.unstorable_strings).
NO_NUL = "^[^\\x00]*$"
_IDENTIFIER = "[A-Za-z0-9._:@-]{1,128}"
IDENTIFIER = f"^{_IDENTIFIER}$"


@dataclass(frozen=True)
class Documented:
    """Add keywords to a type's JSON schema for a rule enforced elsewhere than in the model.

    Unlike Field(json_schema_extra=...) it sits on the type, so it also reaches the string
    inside `X | None`.
    """

    keywords: dict[str, Any]

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Return the type's schema with the keywords added."""
        return {**handler(core_schema), **self.keywords}

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.keywords)))


#: Free text: anything but a NUL (the model cleans what it must).
Text = Annotated[str, Documented({"pattern": NO_NUL})]
#: Some visible character, no NUL. What counts as visible is decided after cleaning (format
#: and private-use characters don't count either), which a pattern can only come close to.
VisibleText = Annotated[
    str, Documented({"pattern": "^[^\\x00]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00]*$"})
]


def _any_case(name: str) -> str:
    # JSON Schema patterns have no flags: spell each letter both ways.
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in name)


#: What email-validator refuses beyond the syntax that `format: email` means (RFC 5321): a
#: quoted local part, an IP-literal domain, a domain without a dot, not ending in a letter
#: (every top-level domain does) or under a special-use name (RFC 6761: .test, .local, ...).
EMAIL_PATTERN = (
    '^[^"@\\x00]+@'
    + "(?!(?:[^@]*\\.)?(?:"
    + "|".join(_any_case(name) for name in SPECIAL_USE_DOMAIN_NAMES)
    + ")$)"
    + "[^@\\[\\]]*\\.[^@.]*[A-Za-z\\u0080-\\uffff]$"
)
#: An address, checked by email-validator when the request is handled (valid_email).
Email = Annotated[
    str,
    Field(min_length=3, max_length=320),
    Documented({"format": "email", "pattern": EMAIL_PATTERN}),
]
#: A token from a link: itsdangerous's base64url payload (a "." first when compressed),
#: timestamp and signature. Only one the service signed is accepted.
SignedToken = Annotated[
    str,
    Field(min_length=1, max_length=512),
    Documented({"pattern": "^\\.?[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+){2}$"}),
]


class _ZoneNames:
    """The JSON schema of a zone name: the list of names the service accepts (core.zones).

    Computed when the document is made, not at import: listing the zones reads the disk.
    """

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Return the string's schema with the accepted names as its enum."""
        return {**handler(core_schema), "enum": zone_names()}

    def __hash__(self) -> int:
        return hash(type(self))


def _zone(value: str) -> str:
    try:
        return check_zone(value)
    except UnknownZone as exc:
        raise ValueError(str(exc)) from None


#: An IANA time zone name, checked by the one zone check (invites.core.zones).
TimeZone = Annotated[str, AfterValidator(_zone), _ZoneNames()]
#: An id the app gives the service (a user, an inviter).
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=IDENTIFIER)]


def _as_utc(value: datetime) -> datetime:
    # Timestamps are stored as naive UTC (db.utcnow); say so on the way out.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: A timestamp the API emits: RFC 3339 with its offset ("2026-12-02T15:42:08.927665Z").
UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]


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
