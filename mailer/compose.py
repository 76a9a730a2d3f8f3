"""Build RFC 5322 messages as bytes; the only place List-Unsubscribe headers are set.

Messages are written directly rather than through `email.message.EmailMessage`: its header
parser decodes encoded-words in user text (see mailer.headers), and building and serialising
one costs about a millisecond, most of a campaign's budget per recipient.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import urlsplit

from mailer.headers import (
    CRLF,
    FIELD_NAME,
    HeaderError,
    Mailbox,
    check_addr_spec,
    check_text,
    mailbox_field,
    parse_mailbox,
    unstructured,
    verbatim,
)

# RFC 5322 caps a line at 998 octets; leave room for the field name.
_MAX_URL = 900
_MAX_LINE = 998
_MSGID_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_MSGID_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,128}$")

# Headers compose() owns; letting extra_headers set them would allow duplicates, a second
# recipient list, or an unsubscribe header outside this module.
_RESERVED = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "reply-to",
        "sender",
        "return-path",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "list-unsubscribe",
        "list-unsubscribe-post",
    }
)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message ready for SMTP: its envelope, its Message-ID and its bytes (CRLF lines)."""

    sender: str
    recipient: str
    message_id: str
    data: bytes


def check_url(url: str) -> str:
    """Validate an unsubscribe URL for use inside angle brackets."""
    check_text("unsubscribe_url", url)
    if not url.isascii() or any(c in url for c in ' <>,"\\'):
        raise HeaderError("unsubscribe_url must be a percent-encoded URI without spaces, <>, or ,")
    if len(url) > _MAX_URL:
        raise HeaderError(f"unsubscribe_url longer than {_MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise HeaderError("unsubscribe_url must be an absolute https:// URL")
    return url


def message_id(domain: str, local: str | None = None) -> str:
    """A Message-ID at `domain`: random, or from a `local` part the caller derived."""
    if not _MSGID_DOMAIN.match(domain):
        raise HeaderError("message_id_domain must be an ASCII domain")
    local = local or secrets.token_hex(16)
    if not _MSGID_LOCAL.match(local):
        raise HeaderError("message id local part must be 1-128 atext characters")
    return f"<{local}@{domain}>"


_date: tuple[int, str] = (-1, "")


def _date_now() -> str:
    """The Date header's value, formatted once per second (it has one-second resolution)."""
    global _date  # one (second, text) pair, replaced whole: safe to read from any thread
    now = int(time.time())
    if _date[0] != now:
        _date = (now, formatdate(now, usegmt=True))
    return _date[1]


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _part(subtype: str, text: str) -> str:
    """One text part with its headers: 7bit when it can be, else QP or base64 (no 8BITMIME)."""
    body = _lines(text)
    if not body.endswith("\n"):
        body += "\n"
    if body.isascii() and max(map(len, body.split("\n"))) <= _MAX_LINE:
        cte, payload = "7bit", body
    else:
        data = body.encode("utf-8")
        # Mostly non-Latin text (Russian) is a third smaller in base64 than in QP; mostly
        # ASCII stays readable in QP. Both are C-speed and pass any relay.
        # Each non-ASCII character adds at least one byte: a quarter of the bytes being
        # non-ASCII means about an eighth more bytes than characters (counted in C).
        if (len(data) - len(body)) * 8 > len(data):
            cte, payload = "base64", base64.encodebytes(data).decode("ascii")
        else:
            cte, payload = "quoted-printable", binascii.b2a_qp(data, istext=True).decode("ascii")
    return (
        f"Content-Type: text/{subtype}; charset=utf-8{CRLF}"
        f"Content-Transfer-Encoding: {cte}{CRLF}{CRLF}" + payload.replace("\n", CRLF)
    )


def _boundary(parts: list[str]) -> str:
    # "=_" never occurs in QP or base64 output; a 7bit part is checked.
    while True:
        boundary = "=_" + secrets.token_hex(12)
        if not any(boundary in p for p in parts):
            return boundary


def compose(
    *,
    sender: str | Mailbox,
    to: str | Mailbox,
    subject: str,
    text: str,
    html: str,
    message_id_domain: str,
    unsubscribe_url: str | None = None,
    reply_to: str | Mailbox | None = None,
    extra_headers: Mapping[str, str] | None = None,
    message_id_local: str | None = None,
) -> Outgoing:
    """Build a multipart/alternative message (text, then HTML) to one recipient."""
    sender_box = parse_mailbox(sender)
    to_box = to if isinstance(to, Mailbox) else Mailbox("", check_addr_spec("To", to))
    msgid = message_id(message_id_domain, message_id_local)
    head = [
        mailbox_field("From", sender_box),
        mailbox_field("To", to_box),
        unstructured("Subject", subject),
        verbatim("Date", _date_now()),
        verbatim("Message-ID", msgid),
    ]
    if reply_to is not None:
        head.append(mailbox_field("Reply-To", parse_mailbox(reply_to)))
    if unsubscribe_url is not None:
        # One line even when long: clients don't decode encoded-words in this header.
        head.append(verbatim("List-Unsubscribe", f"<{check_url(unsubscribe_url)}>"))
        # RFC 8058: tells the mailbox provider a bare POST unsubscribes, no page visit needed.
        head.append(verbatim("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    for name, value in (extra_headers or {}).items():
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            raise HeaderError("invalid extra header name")
        if name.lower() in _RESERVED:
            raise HeaderError(f"header {name} is set by compose() itself")
        head.append(unstructured(name, value))
    parts = [_part("plain", check_body("text", text)), _part("html", check_body("html", html))]
    boundary = _boundary(parts)
    head.append(f"MIME-Version: 1.0{CRLF}")
    head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"{CRLF}')
    body = "".join(f"--{boundary}{CRLF}{part}" for part in parts) + f"--{boundary}--{CRLF}"
    data = ("".join(head) + CRLF + body).encode("ascii")
    return Outgoing(sender_box.address, to_box.address, msgid, data)


def check_body(field: str, value: object) -> str:
    """A body must be text; NUL would end it early in some relays."""
    if not isinstance(value, str):
        raise HeaderError(f"{field} must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise HeaderError(f"{field} contains a NUL character")
    return value
