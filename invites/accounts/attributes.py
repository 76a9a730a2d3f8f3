"""The attribute register: every named fact the app backend may send about an account holder.

Each attribute is declared once here with its type, a description and the purposes of the
processing register (invites.privacy.register) it is held for; the API refuses any other
name, and the privacy register lists the table they live in. Values are stored as canonical
text in `contact_attributes` (one row per contact and attribute), so one SQL shape compares
them on SQLite and PostgreSQL alike: ISO dates and "true"/"false" compare as text, and a
number also keeps its numeric value for before/after.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

#: Letters of ISO 3166-1 alpha-2 codes are upper case; lower case is accepted and stored upper.
_COUNTRY = re.compile(r"[A-Za-z]{2}")
TEXT_MAX = 200


class Kind(StrEnum):
    """The types an attribute may have."""

    TEXT = "text"
    CHOICE = "choice"
    DATE = "date"
    NUMBER = "number"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Attribute:
    """One declared attribute."""

    name: str
    kind: Kind
    label: str
    description: str
    #: Names of purposes in the processing register this attribute is held for.
    purposes: tuple[str, ...]
    #: For a choice: the values allowed.
    choices: tuple[str, ...] = ()
    #: For text: a pattern the (upper-cased) value must match in full, and what it means.
    pattern: re.Pattern[str] | None = None
    pattern_says: str = ""

    def parse(self, raw: Any) -> str:
        """The canonical stored text of a value sent by the API, or ValueError saying why."""
        if self.kind == Kind.BOOLEAN:
            if not isinstance(raw, bool):
                raise ValueError("must be true or false")
            return "true" if raw else "false"
        if self.kind == Kind.NUMBER:
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
                raise ValueError("must be a number")
            return format_number(float(raw))
        if not isinstance(raw, str):
            raise ValueError("must be a string")
        return self.parse_text(raw)

    def parse_text(self, raw: str) -> str:
        """The canonical stored text of a value typed as text (a form, the API's strings)."""
        value = raw.strip()
        if self.kind == Kind.DATE:
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                raise ValueError("must be a date as YYYY-MM-DD") from None
        if self.kind == Kind.BOOLEAN:
            if value.lower() not in ("true", "false"):
                raise ValueError("must be true or false")
            return value.lower()
        if self.kind == Kind.NUMBER:
            try:
                number = float(value)
            except ValueError:
                raise ValueError("must be a number") from None
            if not math.isfinite(number):
                raise ValueError("must be a number")
            return format_number(number)
        if self.kind == Kind.CHOICE:
            if value not in self.choices:
                raise ValueError(f"must be one of {', '.join(self.choices)}")
            return value
        if not value or len(value) > TEXT_MAX or any(ord(c) < 32 for c in value):
            raise ValueError(f"must be 1-{TEXT_MAX} characters on one line")
        if self.pattern is not None:
            value = value.upper()
            if not self.pattern.fullmatch(value):
                raise ValueError(f"must be {self.pattern_says}")
        return value

    def number_of(self, canonical: str) -> float | None:
        """The numeric value stored beside a number's text (None for other kinds)."""
        return float(canonical) if self.kind == Kind.NUMBER else None

    def schema(self) -> dict[str, Any]:
        """Its JSON schema, for the OpenAPI document."""
        out: dict[str, Any] = {"description": f"{self.description} ({self.kind})"}
        if self.kind == Kind.BOOLEAN:
            out["type"] = "boolean"
        elif self.kind == Kind.NUMBER:
            out["type"] = "number"
        elif self.kind == Kind.DATE:
            out |= {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
        elif self.kind == Kind.CHOICE:
            out |= {"type": "string", "enum": list(self.choices)}
        else:
            # One line: no control character (a NUL included), as parse_text refuses.
            out |= {"type": "string", "minLength": 1, "maxLength": TEXT_MAX}
            out["pattern"] = f"^{self.pattern.pattern}$" if self.pattern else "^[^\\x00-\\x1f]+$"
        return {"anyOf": [out, {"type": "null"}]}


def format_number(number: float) -> str:
    """One text per number: 3 and 3.0 are both "3"."""
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


#: Purposes of the processing register that choose who a campaign reaches.
_AUDIENCE = ("promotional_email", "partner_offers")

ATTRIBUTES: dict[str, Attribute] = {
    a.name: a
    for a in (
        Attribute(
            "country",
            Kind.TEXT,
            "Country",
            "The account's country, ISO 3166-1 alpha-2 (DE, FR, RU).",
            _AUDIENCE,
            pattern=_COUNTRY,
            pattern_says="an ISO 3166-1 alpha-2 country code (two letters)",
        ),
        Attribute(
            "plan",
            Kind.CHOICE,
            "Plan",
            "The account's SpotCam subscription plan.",
            _AUDIENCE,
            choices=("free", "plus", "pro"),
        ),
        Attribute(
            "camera_model",
            Kind.CHOICE,
            "Camera model",
            "The SpotCam camera model the account registered (the first one, if several).",
            _AUDIENCE,
            choices=("spotcam-mini", "spotcam-hd", "spotcam-pro", "spotcam-outdoor"),
        ),
        Attribute(
            "signed_up_on",
            Kind.DATE,
            "Signed up on",
            "The day the account was created in the app.",
            _AUDIENCE,
        ),
    )
}


def parse_all(raw: dict[str, Any]) -> tuple[dict[str, str | None], dict[str, str]]:
    """Check values sent for a contact: (canonical values, None to remove), errors by name.

    An undeclared name is an error too (its message lists the declared ones).
    """
    values: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for name, value in raw.items():
        declared = ATTRIBUTES.get(name)
        if declared is None:
            errors[name] = f"undeclared attribute; declared: {', '.join(ATTRIBUTES)}"
        elif value is None:
            values[name] = None
        else:
            try:
                values[name] = declared.parse(value)
            except ValueError as exc:
                errors[name] = str(exc)
    return values, errors
