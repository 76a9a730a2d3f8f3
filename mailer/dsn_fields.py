"""The "Field: value" blocks of a delivery-status part (RFC 3464), read leniently."""

from __future__ import annotations

import base64
import binascii
import contextlib
import quopri
import re
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser

__all__ = ["address", "blocks_from_text", "ds_blocks", "field", "names_recipient", "typed"]

_BLANK_LINES = re.compile(r"\n[ \t]*\n")


def ds_blocks(part: Message, problems: list[str]) -> list[Message]:
    """Return the field blocks of a delivery-status part, decoding it if it is encoded."""
    payload = part.get_payload()
    encoded = (part.get("Content-Transfer-Encoding") or "").strip().lower()
    if isinstance(payload, list) and encoded not in ("base64", "quoted-printable"):
        return [b for b in payload if isinstance(b, Message)]
    # The stdlib splits a delivery-status body into blocks without decoding it first, so an
    # encoded one comes out as junk blocks: put the text back together, decode, split again.
    if isinstance(payload, list):
        text = "\n".join(b.as_string() for b in payload if isinstance(b, Message))
    else:
        text = str(payload)
    data = text.encode("ascii", errors="ignore")
    if encoded == "base64":
        try:
            data = base64.b64decode(b"".join(data.split()) + b"==", validate=False)
        except binascii.Error:
            problems.append("a base64 delivery-status part that does not decode: skipped")
            return []
    elif encoded == "quoted-printable":
        data = quopri.decodestring(data)
    return blocks_from_text(data.decode("utf-8", errors="replace"))


def blocks_from_text(text: str) -> list[Message]:
    """Parse "Field: value" paragraphs that carry a recipient, as found in a DSN body."""
    parser = HeaderParser()
    blocks = []
    for chunk in _BLANK_LINES.split(text.replace("\r\n", "\n")):
        lowered = chunk.lower()
        if "recipient" not in lowered and "action:" not in lowered:
            continue  # cheaper than parsing every paragraph of a long text as headers
        block = parser.parsestr(chunk.strip("\n") + "\n")
        if block.get("Final-Recipient") or block.get("Original-Recipient") or block.get("Action"):
            blocks.append(block)
    return blocks


def names_recipient(block: Message) -> bool:
    """Whether a block is about one recipient (not the per-message fields)."""
    return bool(block.get("Final-Recipient") or block.get("Original-Recipient"))


def field(block: Message, name: str) -> str | None:
    """Return a field's value with folded lines joined, or None."""
    value = block.get(name)
    if value is None:
        return None
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = " ".join(text.split())
    return text or None


def typed(value: str | None) -> tuple[str | None, str | None]:
    """Split "smtp; 550 ..." into ("smtp", "550 ...")."""
    if value is None:
        return None, None
    kind, sep, rest = value.partition(";")
    if not sep:
        return None, value.strip() or None
    return kind.strip().lower() or None, rest.strip() or None


def address(value: str | None) -> str | None:
    """Return the lower-cased address of an "rfc822; a@b" recipient field, or None."""
    kind, address = typed(value)
    if not address or (kind and kind not in ("rfc822", "utf-8", "x-unknown")):
        return None
    address = address.strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if local.startswith("=?") and local.endswith("?="):
        # Sendmail copies an RFC 2047 encoded-word local part verbatim; decode it before
        # lower-casing, which would otherwise corrupt the base64.
        # A malformed encoded-word is kept as written rather than losing the recipient.
        with contextlib.suppress(ValueError, LookupError, UnicodeError):
            address = f"{make_header(decode_header(local))}{at}{domain}"
    return address.lower() or None
