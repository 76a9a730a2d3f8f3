"""Plain text supplied by users (inviter names, notes): cleaned, bounded, never a link."""

from __future__ import annotations

import re
import unicodedata

# Control characters (Cc) can forge headers and layout; format characters (Cf) include the
# bidi overrides used to disguise text. Both go.
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Co", "Cs"}

_URLISH = re.compile(
    r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?:/\S*)?"
)
_ZWSP = "\u200b"


def clean_line(text: str) -> str:
    """Return one line of plain text: no control or format characters, spaces collapsed."""
    kept = "".join(
        " " if ch in "\t\r\n" else ch
        for ch in text
        if ch in "\t\r\n" or unicodedata.category(ch) not in _UNSAFE_CATEGORIES
    )
    return " ".join(kept.split())


def clean_block(text: str) -> str:
    """Return multi-line plain text: line breaks kept (at most two in a row), nothing unsafe."""
    lines = [
        clean_line(line) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ]
    joined = "\n".join(lines).strip()
    return re.sub(r"\n{3,}", "\n\n", joined)


def defang_links(text: str) -> str:
    """Break anything that looks like a URL or domain so mail clients don't make it a link."""

    def breaker(match: re.Match[str]) -> str:
        return match.group(0).replace("://", ":" + _ZWSP + "//").replace(".", _ZWSP + ".")

    return _URLISH.sub(breaker, text)
