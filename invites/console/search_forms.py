"""What the console's search forms share: days read in the viewer's zone, page numbers,
field limits, each problem kept for its field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from flask_login import current_user

from invites.core import zones

#: The longest text a search field takes; more is a typing accident, not a search.
FIELD_LENGTH = 200


def viewer_zone() -> tzinfo:
    """The signed-in staff user's zone (UTC if none or unknown)."""
    zone = getattr(current_user, "time_zone", None)
    return zones.zone(zone) if zones.is_zone(zone) else UTC


def utc_start(day: date, tz: tzinfo) -> datetime:
    """Midnight starting `day` in zone `tz`, as the naive UTC time rows are kept in."""
    return datetime.combine(day, time(), tz).astimezone(UTC).replace(tzinfo=None)


@dataclass
class SearchForm:
    """The typed values of a GET search form, and what is wrong with them, by field."""

    typed: dict[str, str]
    problems: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, args: Mapping[str, str], names: tuple[str, ...]) -> SearchForm:
        """Take `names` from the query string, trimmed; refuse over-long ones at their field."""
        typed = {name: args.get(name, "").strip() for name in names}
        form = cls(typed)
        for name, value in typed.items():
            if len(value) > FIELD_LENGTH:
                form.problems[name] = f"At most {FIELD_LENGTH} characters."
        return form

    def day(self, name: str) -> date | None:
        """The field as a date, or None (empty, or refused at its field)."""
        text = self.typed.get(name, "")
        if not text or name in self.problems:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            self.problems[name] = "Enter a date as YYYY-MM-DD, for example 2026-12-07."
            return None

    def day_range(self, since: str, until: str) -> tuple[datetime | None, datetime | None]:
        """UTC bounds [start of `since`, end of `until`) for days in the viewer's zone."""
        first, last = self.day(since), self.day(until)
        if first and last and last < first:
            self.problems[until] = "The last day comes before the first."
            return None, None
        tz = viewer_zone()
        return (
            utc_start(first, tz) if first else None,
            utc_start(last + timedelta(days=1), tz) if last else None,
        )

    def choice(self, name: str, allowed: tuple[str, ...], label: str) -> str:
        """The field if it is one of `allowed` (or empty); else refused at its field."""
        value = self.typed.get(name, "")
        if value and value not in allowed:
            self.problems[name] = f"Choose a {label} from the list."
            return ""
        return value

    @property
    def filtered(self) -> bool:
        """Whether anything was typed."""
        return any(self.typed.values())

    def query(self) -> dict[str, str]:
        """The typed values to carry into the pager's links."""
        return {name: value for name, value in self.typed.items() if value}


def page_number(args: Mapping[str, str]) -> int:
    """The `page` argument as a page number (1 for anything else)."""
    text = args.get("page", "1")
    return int(text) if text.isdigit() and len(text) < 9 else 1
