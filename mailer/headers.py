"""Header fields written byte by byte: no parser ever reads the text we put in them.

The standard library's header classes parse every value they are given, and their parser
decodes RFC 2047 encoded-words wherever it finds them, in a Subject and inside an address's
local part alike. On CPython 3.11.7 (this machine's) the folder then writes the decoded text
back raw, so `=?utf-8?q?=0D=0ABcc:...?=` in an inviter's name becomes a real line break and a
forged header (CVE-2024-6923; newer patch levels re-encode it). Here user text is only ever
*encoded*: text that is plain ASCII with no `=?` goes out as it is, anything else as base64
encoded-words of the literal text, so a reader's client shows exactly what was typed.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

CRLF = "\r\n"
# C0, DEL, C1 and the Unicode line/paragraph separators: any of them can end a line somewhere
# between us and the recipient's client.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# RFC 5322 field name: printable ASCII except the colon.
FIELD_NAME = re.compile(r"^[!-9;-~]{1,76}$")
# Dot-atom local part (RFC 5322 atext) and an LDH domain of A-labels: what the envelope and
# the header carry. Each label is unambiguous, so matching is linear in the input.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"^{_ATEXT}(?:\.{_ATEXT})*$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^(?:{_LABEL}\.)*{_LABEL}$")
# A display name of atoms needs no quoting.
_ATOMS = re.compile(rf"^{_ATEXT}(?: {_ATEXT})*$")
# Characters a display name may carry inside a quoted-string without encoding.
_QUOTABLE = re.compile(r"^[ -~]*$")
# Printable ASCII words: what may appear in an unstructured header verbatim.
_PLAIN = re.compile(r"^[!-~]+(?: [!-~]+)*$")
# 45 bytes of UTF-8 become 60 base64 characters: with "=?utf-8?b?" and "?=" a word stays
# within RFC 2047's 75 characters.
_CHUNK = 45
_FOLD_AT = 78


class HeaderError(ValueError):
    """A header value that can't be written safely. The message never quotes the value."""


def check_text(field: str, value: object) -> str:
    """Return `value` if it is a string without control characters, else raise HeaderError."""
    if not isinstance(value, str):
        raise HeaderError(f"{field} must be a string, not {type(value).__name__}")
    if _CONTROL.search(value):
        raise HeaderError(f"{field} contains a control character")
    return value


def check_addr_spec(field: str, address: str) -> str:
    """Return an ASCII `local@domain` fit for the envelope and a header, else raise."""
    check_text(field, address)
    local, at, domain = address.rpartition("@")
    if not at or len(address) > 320 or not _LOCAL.match(local) or not _DOMAIN.match(domain):
        # Unicode domains arrive here already as A-labels (IDNA 2008, from email-validator);
        # a UTF-8 local part would need SMTPUTF8, which the service refuses at the door.
        raise HeaderError(f"{field} is not an ASCII addr-spec (local@domain)")
    if "=?" in local:
        # Legal atext, but parsers that wrongly decode encoded-words in an addr-spec (the
        # standard library's among them) would read a line break into it at the recipient's.
        raise HeaderError(f"{field} local part contains '=?'")
    return address


@dataclass(frozen=True)
class Mailbox:
    """A display name (any text, possibly empty) and an ASCII address."""

    name: str
    address: str

    def __post_init__(self) -> None:
        check_text("display name", self.name)
        check_addr_spec("address", self.address)


_MAILBOX = re.compile(r"^\s*(?:(?P<name>[^<>]*?)\s*<(?P<angle>[^<>\s]+)>|(?P<bare>[^<>\s]+))\s*$")


def parse_mailbox(text: str | Mailbox) -> Mailbox:
    """Read `Name <local@domain>` or `local@domain` (configured senders), strictly."""
    if isinstance(text, Mailbox):
        return text
    check_text("mailbox", text)
    found = _MAILBOX.match(text)
    if not found:
        raise HeaderError("mailbox must be 'Name <local@domain>' or 'local@domain'")
    name = (found["name"] or "").strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return Mailbox(name, found["angle"] or found["bare"])


def encoded_words(text: str) -> list[str]:
    """Encode text as base64 UTF-8 encoded-words, never splitting a character."""
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for ch in text:
        n = len(ch.encode("utf-8"))
        if size + n > _CHUNK:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(ch)
        size += n
    if chunk:
        words.append("".join(chunk))
    return [
        "=?utf-8?b?" + base64.b64encode(w.encode("utf-8")).decode("ascii") + "?=" for w in words
    ]


def _fold(name: str, tokens: list[str]) -> str:
    """Join tokens with spaces, breaking lines before a token that would pass 78 columns."""
    line = name + ":"
    lines = []
    for token in tokens:
        if len(line) + 1 + len(token) > _FOLD_AT and line != name + ":":
            lines.append(line)
            line = ""
        line += " " + token
    lines.append(line)
    return CRLF.join(lines) + CRLF


def _needs_encoding(value: str) -> bool:
    # "=?" anywhere could be read as an encoded-word by someone's parser; an over-long word
    # can't be folded.
    return (
        not _PLAIN.match(value)
        or "=?" in value
        or any(len(word) > _FOLD_AT - 10 for word in value.split(" "))
    )


def unstructured(name: str, value: str) -> str:
    """One unstructured field (Subject and the like), folded, with CRLF."""
    check_text(name, value)
    value = " ".join(value.split())
    if not value:
        return f"{name}:{CRLF}"
    tokens = encoded_words(value) if _needs_encoding(value) else value.split(" ")
    return _fold(name, tokens)


def mailbox_field(name: str, mailbox: Mailbox) -> str:
    """An address field (From, To, Reply-To) holding one mailbox, with CRLF."""
    display = " ".join(mailbox.name.split())
    angle = f"<{mailbox.address}>"
    if not display:
        return f"{name}: {mailbox.address}{CRLF}"
    if "=?" not in display and _ATOMS.match(display):
        return _fold(name, [*display.split(" "), angle])
    if _QUOTABLE.match(display) and "=?" not in display:
        quoted = '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if len(quoted) < 900:
            return _fold(name, [quoted, angle])
    return _fold(name, [*encoded_words(display), angle])


def verbatim(name: str, value: str) -> str:
    """A field we built ourselves (Message-ID, Date, List-Unsubscribe): one line, checked."""
    check_text(name, value)
    if not value.isascii() or len(name) + 2 + len(value) > 998:
        raise HeaderError(f"{name} must be ASCII and fit one 998-octet line")
    return f"{name}: {value}{CRLF}"
