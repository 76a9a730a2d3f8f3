"""Time zone names: the one check of a zone a person or the app backend gives us.

Every place that takes a zone name (a contact's `time_zone` on the API, a staff user's zone in
the console and at the command line, a campaign's default zone) asks `check_zone`, and the
OpenAPI document lists `zone_names()` as the only values it takes.

A name is accepted only if it is one of the IANA zones the zone database lists
(`zoneinfo.available_timezones()`: the system's tzdata, or the `tzdata` package), spelt as
listed. Asking `ZoneInfo()` alone is not enough: it opens whatever file the name leads to, so a
directory ("America"), a path ("../etc/passwd", "/etc/localtime", "posix/Europe/Moscow"), a name
too long for the file system or one with a NUL in it fails with IsADirectoryError, OSError or
ValueError, or even loads a file that isn't the zone that was meant.
"""

from __future__ import annotations

import functools
import zoneinfo
from typing import TypeGuard

#: Longest name stored (the columns are String(64)); the longest IANA name has 32 characters.
MAX_CHARS = 64
#: Listed by some systems but not a zone anyone can mean: the machine's own zone.
_NOT_ZONES = frozenset({"localtime", "posixrules"})


class UnknownZone(ValueError):
    """Not the name of an IANA time zone; the message says so in words a person can act on."""


@functools.cache
def _known() -> frozenset[str]:
    # Read once per process (about 20 ms: it walks the zone directory).
    return frozenset(zoneinfo.available_timezones()) - _NOT_ZONES


def zone_names() -> list[str]:
    """Every zone name `check_zone` accepts, sorted."""
    return sorted(_known())


def is_zone(name: object) -> TypeGuard[str]:
    """Whether `name` is an IANA zone name this service accepts."""
    return isinstance(name, str) and len(name) <= MAX_CHARS and name in _known()


def check_zone(name: str) -> str:
    """Return `name` if it is an IANA zone name (e.g. Europe/Moscow); else raise UnknownZone."""
    if not is_zone(name):
        raise UnknownZone(
            f"“{_shown(name)}” is not an IANA time zone name (like Europe/Moscow or UTC)"
        )
    return name


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone with a name `check_zone` accepts."""
    return zoneinfo.ZoneInfo(check_zone(name))


def _shown(name: str) -> str:
    # Quoted back to the person who typed it: printable, and short enough for one line.
    printable = "".join(c if c.isprintable() else "�" for c in name)
    return printable if len(printable) <= 40 else printable[:39] + "…"
