"""How the console shows things: times in the viewer's own time zone, names people use."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

from flask_login import current_user

from invites.core import zones

#: Date, time and the zone's abbreviation: "2026-12-03 13:05 MSK".
TIME_FORMAT = "%Y-%m-%d %H:%M %Z"


def format_time(value: datetime | None, zone: str | None = None) -> str:
    """A stored (naive UTC) time as text in an IANA zone (default UTC); '—' for none."""
    if value is None:
        return "—"
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    # A zone removed from tzdata since it was saved: UTC rather than a 500.
    tz: tzinfo = zones.zone(zone) if zones.is_zone(zone) else UTC
    return aware.astimezone(tz).strftime(TIME_FORMAT)


def localtime(value: datetime | None) -> str:
    """Jinja filter `localtime`: a time in the signed-in staff user's zone."""
    zone = getattr(current_user, "time_zone", None)
    return format_time(value, zone)


#: The console's names for the marketing categories (staff vocabulary, not the preference
#: centre's titles, which are written for the recipients).
CATEGORY_NAMES = {
    "promotional": "Promotions",
    "partner_offers": "Partner offers",
    "service": "Service",
}

#: Languages by the name staff know them by.
LANGUAGE_NAMES = {"en": "English", "ru": "Russian"}


def category_name(category: str | None) -> str:
    """Jinja filter `category_name`: "Promotions" for `promotional`; unknown ones as stored."""
    return CATEGORY_NAMES.get(category or "", category or "—")


def language_name(locale: str | None) -> str:
    """Jinja filter `language_name`: "English" for `en`; None is every language."""
    if not locale:
        return "every language"
    return LANGUAGE_NAMES.get(locale, locale)


def duration(seconds: int | None, basis: str | None = None) -> str:
    """Jinja filter `duration`: a time left as people say it ("3 min 30 s"); '—' for none to
    show, "none" for nothing left; "about … at the limit" when estimated from the rate limit
    (campaign.js words it the same)."""
    if seconds is None:
        return "—"
    if seconds == 0:
        return "none"
    if seconds < 60:
        text = f"{seconds} s"
    elif seconds < 3600:
        text = f"{seconds // 60} min {seconds % 60} s"
    else:
        text = f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"about {text} at the limit" if basis == "limit" else text


#: A time as the audit log's details store it: ISO 8601, naive UTC ("2026-12-08T07:00:00").
_STORED_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")


def detail_value(value: object) -> str:
    """Jinja filter `detail_value`: an audit detail as text, a stored time in the viewer's
    zone with its abbreviation (details keep UTC without a marker)."""
    text = str(value)
    if isinstance(value, str) and _STORED_TIME.fullmatch(value):
        try:
            return localtime(datetime.fromisoformat(value))
        except ValueError:
            return text
    return text
