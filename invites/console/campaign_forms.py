"""Reading the campaign forms: each field checked, with a message a marketer can act on.

Pure functions over the submitted fields; the views decide what to do with the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from email_validator import EmailNotValidError, validate_email

from invites.campaigns.content import LOCALES
from invites.campaigns.lifecycle import MARKETING_CATEGORIES
from invites.campaigns.testsend import MAX_ADDRESSES
from invites.core import zones
from mailer.authoring import Draft, Problem

#: Longest name and partner name the tables hold.
NAME_CHARS = 200
PARTNER_CHARS = 120
MAX_RATE = 10_000
#: How far ahead a campaign may be scheduled.
MAX_AHEAD = timedelta(days=2 * 366)


class FormError(ValueError):
    """A field that can't be used: the message says why, `field` names it (the page shows the
    message at that field)."""

    def __init__(
        self, message: str, field: str | None = None, others: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        #: More fields refused by the same form: every error is shown at once, at its field.
        self.others = others or {}

    def as_errors(self) -> dict[str, str]:
        """{field: message}, as the templates show errors."""
        return {self.field or "form": str(self), **self.others}


@dataclass
class Parsed:
    """The fields that could be read, and a message for each field that could not."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _text(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "")
    # A NUL can't be stored (PostgreSQL refuses it); nobody types one on purpose.
    return value.replace("\x00", "")


def settings_form(form: Mapping[str, str]) -> Parsed:
    """Name, category, partner, locale, sender and rate of a campaign."""
    out = Parsed()
    name = _text(form, "name").strip()
    errors = out.errors
    if not name:
        errors["name"] = "Give the campaign a name."
    elif len(name) > NAME_CHARS:
        errors["name"] = f"The name is longer than {NAME_CHARS} characters."
    category = _text(form, "category")
    if category not in MARKETING_CATEGORIES:
        errors["category"] = "Choose a category: " + " or ".join(MARKETING_CATEGORIES) + "."
    partner = _text(form, "partner_name").strip()
    if category == "partner_offers" and not partner:
        errors["partner_name"] = "A partner offer names the partner it is sent on behalf of."
    if len(partner) > PARTNER_CHARS:
        errors["partner_name"] = f"The partner's name is longer than {PARTNER_CHARS} characters."
    locale = _text(form, "locale")
    if locale and locale not in LOCALES:
        errors["locale"] = "Choose a language of contacts, or everybody."
    sender = _text(form, "sender").strip()
    if sender:
        try:
            from mailer import parse_mailbox

            parse_mailbox(sender)
        except ValueError as exc:
            errors["sender"] = f"The from address can't be used: {exc}."
    rate_text = _text(form, "rate_per_second").strip()
    rate: int | None = None
    if rate_text:
        if not rate_text.isdigit() or not 1 <= int(rate_text) <= MAX_RATE:
            errors["rate_per_second"] = (
                f"The send rate is a whole number from 1 to {MAX_RATE}, or empty."
            )
        else:
            rate = int(rate_text)
    out.values = {
        "name": name,
        "category": category,
        "partner_name": partner if category == "partner_offers" else None,
        "locale": locale or None,
        "sender": sender or None,
        "rate_per_second": rate,
    }
    return out


def content_form(form: Mapping[str, str]) -> tuple[Draft, list[Problem]]:
    """One locale's subject, preheader, body and (optional) text part, as typed, and the
    problems with the form itself (the draft is still what was typed, to show again)."""
    problems = []
    body_format = _text(form, "body_format") or "markdown"
    if body_format not in ("markdown", "html"):
        problems.append(Problem("body_format", None, "choose Markdown or HTML for the body"))
        body_format = "markdown"
    text = _text(form, "text")
    own_text = _text(form, "text_mode") == "own"
    # Browsers send CR LF from a textarea; the templates are written with LF.
    draft = Draft(
        subject=_text(form, "subject").replace("\r\n", "\n").strip(),
        preheader=_text(form, "preheader").replace("\r\n", "\n").strip(),
        body=_text(form, "body").replace("\r\n", "\n"),
        body_format=body_format,  # type: ignore[arg-type]
        text=text.replace("\r\n", "\n") if own_text else None,
    )
    return draft, problems


def check_zone(name: str) -> str:
    """An IANA zone name, or FormError."""
    try:
        return zones.check_zone(name)
    except zones.UnknownZone as exc:
        raise FormError(f"{exc}.", "default_zone") from None


@dataclass(frozen=True)
class Schedule:
    """When to send: one moment (UTC), or a wall-clock time on a date in each contact's zone."""

    at: datetime | None = None
    local_date: date | None = None
    local_time: str | None = None
    default_zone: str = "UTC"


def schedule_form(form: Mapping[str, str], viewer_zone: str | None) -> Schedule:
    """The schedule form: a date and a time, in the viewer's zone or in each contact's. Every
    field that can't be used is named at once (FormError with the others)."""
    errors: dict[str, str] = {}
    day_text, time_text = _text(form, "date").strip(), _text(form, "time").strip()
    day: date | None = None
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        errors["date"] = "Give the date as YYYY-MM-DD."
    today = datetime.now(UTC).date()
    if day is not None and day < today - timedelta(days=1):  # still that day somewhere
        errors["date"] = "That date has passed; choose a later one, or send now."
    elif day is not None and day > today + MAX_AHEAD:
        errors["date"] = "Choose a date within the next two years."
    at: time | None = None
    try:
        at = time.fromisoformat(time_text)
    except ValueError:
        errors["time"] = "Give the time as HH:MM."
    local = _text(form, "anchor") == "local"
    zone = "UTC"
    if local:
        try:
            zone = check_zone(_text(form, "default_zone").strip() or "UTC")
        except FormError as exc:
            errors["default_zone"] = str(exc)
    if errors:
        first, *rest = errors.items()
        raise FormError(first[1], first[0], dict(rest))
    assert day is not None and at is not None  # no errors: both were read
    clock = f"{at.hour:02d}:{at.minute:02d}"
    if local:
        return Schedule(local_date=day, local_time=clock, default_zone=zone)
    # The staff user's own zone, checked when it was set; UTC if it no longer reads.
    tz: tzinfo = zones.zone(viewer_zone) if zones.is_zone(viewer_zone) else UTC
    moment = datetime.combine(day, at.replace(second=0, microsecond=0), tzinfo=tz)
    # Stored naive in UTC, like every time in the database.
    return Schedule(at=moment.astimezone(UTC).replace(tzinfo=None))


def test_addresses(text: str) -> list[str]:
    """Up to MAX_ADDRESSES addresses, separated by commas, spaces or lines."""
    raw = [a for a in text.replace("\x00", "").replace(",", " ").split() if a]
    if not raw:
        raise FormError("Type at least one address to send the test to.", "addresses")
    if len(raw) > MAX_ADDRESSES:
        raise FormError(f"A test goes to at most {MAX_ADDRESSES} addresses.", "addresses")
    out = []
    for address in raw:
        try:
            out.append(validate_email(address, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            # The message quotes no address: it goes back to the page it came from only.
            raise FormError(f"One of the addresses can't be used: {exc}", "addresses") from None
    return list(dict.fromkeys(out))
