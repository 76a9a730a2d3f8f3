"""Delivery errors, split by what the caller may do next, and the redaction they all share."""

from __future__ import annotations

# Characters an address can be made of, around its "@": enough to blank out any mailbox a
# remote server quotes back ("550 5.1.1 <x@y>: Recipient address rejected").
_ADDRESS_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~.-"
    '"'  # a quote mangled into a local part is still part of it
)
#: What an address is replaced with.
REDACTED = "<address>"
#: Longest text kept: replies and reports longer than this carry nothing more we need.
MAX_TEXT = 1000


def redact(text: str, limit: int = MAX_TEXT) -> str:
    """Return `text` cut to `limit` characters with every address-like token replaced.

    A scan outwards from each "@", so it is linear in the text however hostile it is (a
    regex such as `\\S+@\\S+` backtracks quadratically over a long run without an "@").
    Non-ASCII letters count as address characters too, so `prív@example.org` goes as well.
    """
    text = text[:limit]
    if "@" not in text:
        return text
    out: list[str] = []
    start = 0
    i = text.find("@")
    while i != -1:
        left = i
        if left > start and text[left - 1] == '"':
            # A quoted local part ("a b"@host) may hold spaces: take it whole.
            opening = text.rfind('"', max(start, i - 66), i - 1)
            left = opening if opening != -1 else left
        while left > start and _is_address_char(text[left - 1]):
            left -= 1
        right = i + 1
        while right < len(text) and (_is_address_char(text[right]) or text[right] == "@"):
            right += 1
        out.append(text[start:left])
        out.append(REDACTED)
        start = right
        i = text.find("@", start)
    out.append(text[start:])
    return "".join(out)


def _is_address_char(ch: str) -> bool:
    return ch in _ADDRESS_CHARS or (ch > "\x7f" and ch.isprintable() and not ch.isspace())


class MailError(Exception):
    """Base class for every delivery failure raised by the mailer. Its text holds no address."""

    def __init__(self, message: str, code: int | None = None) -> None:
        message = redact(message)
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        if self.code is None:
            return self.message
        return f"{self.code} {self.message}"


class TransientError(MailError):
    """A 4xx reply, timeout or connection failure before the message was handed over: retry."""


class PermanentError(MailError):
    """A 5xx reply: the message will never be accepted, so never retry it."""


class UnknownOutcome(MailError):
    """The whole message was sent but no reply came (timeout, lost connection).

    The server may have taken it. Sending again could deliver a second copy, which is worse
    than a missing one: record it as unknown and never retry it.
    """
