"""How the console shows things: times in the viewer's own time zone, names people use."""

from __future__ import annotations

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
