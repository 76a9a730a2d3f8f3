"""Read SMTP reply codes and RFC 3463 enhanced status codes out of what servers wrote."""

from __future__ import annotations

import re

__all__ = ["ENHANCED", "enhanced_in_text", "pick_status", "reply_code"]

# An RFC 3463 enhanced status code: class.subject.detail.
ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# The same, standing on its own anywhere in prose: not part of an IP address, a version number
# or a longer dotted run ("192.5.1.1", "v5.1.1").
_ENHANCED_ALONE = re.compile(r"(?<![\w.])([245])\.([0-7])\.(\d{1,3})(?![\w.]|\.\d)")
# An SMTP reply code followed by the enhanced code the server put next to it ("550 5.1.1",
# "550-5.7.1"); codes quoted later in the prose are not the server's verdict.
_REPLY_AND_ENHANCED = re.compile(
    r"(?<![\d.])([245])\d\d[ -][ \t]{0,3}['\"]?(\1\.\d{1,3}\.\d{1,3})\b"
)
# A bare SMTP reply code: at the start, after "said:"/"<<<", or alone before the text.
# Lookbehinds rather than a `\s*` after `\s`, which would rescan every run of blanks.
_REPLY = re.compile(r"(?:(?<!\S)|(?<=said:)|(?<=<<<))([245])(\d\d)(?=[ :-]|$)")


def _server_enhanced(text: str) -> str | None:
    """Return the enhanced code the server put next to its reply code, if any."""
    found = _REPLY_AND_ENHANCED.search(text)
    if found:
        return found.group(2)
    # Some MTAs omit the reply code and start the diagnostic with the enhanced code.
    lead = ENHANCED.match(text.strip())
    return lead.group(0) if lead else None


def enhanced_in_text(text: str | None) -> str | None:
    """Return the enhanced status code a diagnostic states, preferring the server's own."""
    if not text:
        return None
    found = _server_enhanced(text)
    if found:
        return found
    # qmail writes "(#5.1.1)" after its prose, others "... (5.4.4)": any code standing alone.
    alone = _ENHANCED_ALONE.search(text)
    return alone.group(0) if alone else None


def reply_code(text: str | None) -> int | None:
    """Return the first SMTP reply code (e.g. 550) in text, if any."""
    if not text:
        return None
    found = _REPLY.search(text)
    return int(found.group(1) + found.group(2)) if found else None


def _specificity(status: str) -> int:
    """2 for a full code, 1 for "X.Y.0" (a subject only), 0 for "X.0.0" (a class only)."""
    if status.endswith(".0.0"):
        return 0
    return 1 if status.endswith(".0") else 2


def pick_status(field: str | None, diagnostic: str | None) -> str | None:
    """Choose the status: the server's own code beats the reporting MTA's generic Status."""
    literal = ENHANCED.search(field) if field else None
    status = literal.group(0) if literal else None
    server = _server_enhanced(diagnostic) if diagnostic else None
    # The reporting MTA often writes 5.0.0 or a stale code; the remote server's enhanced code
    # is the more specific verdict, as long as both agree on permanent vs temporary.
    if server and (
        status is None or (server[0] == status[0] and _specificity(server) >= _specificity(status))
    ):
        return server
    if status:
        return status
    # A code somewhere in the prose is only good enough when nothing better was given.
    return enhanced_in_text(diagnostic)
