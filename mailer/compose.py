"""Build RFC 5322 messages; the only place List-Unsubscribe headers are set."""

from __future__ import annotations

import email.policy
import logging
import re
from collections.abc import Mapping
from email.errors import InvalidHeaderDefect
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.utils import formataddr, formatdate, make_msgid
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# C0, DEL, C1 and the Unicode line/paragraph separators: any of them can end a header line
# somewhere between us and the recipient's client, which is how header injection happens.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# RFC 5322 field name: printable ASCII except the colon.
_FIELD_NAME = re.compile(r"^[!-9;-~]+$")
# RFC 5322 caps a line at 998 octets; leave room for the field name.
_MAX_URL = 900

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


class _UriListHeader(UnstructuredHeader, BaseHeader):
    """List-Unsubscribe header emitted verbatim on one line."""

    max_count = 1

    def fold(self, *, policy: Policy) -> str:
        # The stdlib folder turns a long unbreakable URL into RFC 2047 encoded-words, which mail
        # clients don't decode in List-Unsubscribe; one line up to 998 octets is legal.
        return f"{self.name}: {self}{policy.linesep}"


class _SingleHeader(UnstructuredHeader, BaseHeader):
    """An unstructured header that may appear only once."""

    max_count = 1


_registry = HeaderRegistry()
_registry.map_to_type("list-unsubscribe", _UriListHeader)
_registry.map_to_type("list-unsubscribe-post", _SingleHeader)
# Messages are built with this policy; bytes are still produced with plain email.policy.SMTP.
_POLICY = email.policy.SMTP.clone(header_factory=_registry)


def _check(field: str, value: str) -> str:
    """Raise ValueError if a header value could break out of its line."""
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string, not {type(value).__name__}")
    match = _CONTROL.search(value)
    if match:
        raise ValueError(f"{field} contains a control character {match.group()!r}")
    return value


def _idna(domain: str) -> str:
    """Return the ASCII (punycode) form of a domain; policy.SMTP can't send UTF-8 addresses."""
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"invalid internationalized domain {domain!r}") from exc


def _addresses(msg: EmailMessage, field: str, *, single: bool) -> tuple[Address, ...]:
    """Validate the parsed address header `field` of `msg`."""
    header: Any = msg[field]
    addresses: tuple[Address, ...] = tuple(header.addresses)
    if any(isinstance(d, InvalidHeaderDefect) for d in header.defects):
        raise ValueError(f"{field} is not a valid address: {str(header)!r}")
    if not addresses or (single and len(addresses) != 1):
        raise ValueError(f"{field} must hold exactly one address, got {str(header)!r}")
    for addr in addresses:
        if not addr.username or not addr.domain:
            raise ValueError(f"{field} is not a valid address: {addr.addr_spec!r}")
        if not addr.username.isascii():
            # A UTF-8 local part needs SMTPUTF8, which this engine doesn't negotiate.
            raise ValueError(f"{field} local part must be ASCII: {addr.addr_spec!r}")
    return addresses


def _set_address(msg: EmailMessage, field: str, value: str, *, single: bool) -> None:
    """Set an address header, turning the stdlib parser's odd failures into ValueError."""
    _check(field, value)
    try:
        msg[field] = value
        addresses = _addresses(msg, field, single=single)
        if not all(a.domain.isascii() for a in addresses):
            # Address validators hand back Unicode domains; the wire needs their A-labels.
            del msg[field]
            msg[field] = [Address(a.display_name, a.username, _idna(a.domain)) for a in addresses]
    except (IndexError, TypeError) as exc:
        # e.g. "x@" raises IndexError deep inside the stdlib header parser.
        raise ValueError(f"{field} is not a valid address: {value!r}") from exc


def _check_url(url: str) -> str:
    """Validate an unsubscribe URL for use inside angle brackets."""
    _check("unsubscribe_url", url)
    if not url.isascii() or any(c in url for c in ' <>,"\\'):
        raise ValueError("unsubscribe_url must be a percent-encoded URI without spaces, <>, or ,")
    if len(url) > _MAX_URL:
        raise ValueError(f"unsubscribe_url longer than {_MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"unsubscribe_url must be an absolute https:// URL, got {url!r}")
    return url


def compose(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    message_id_domain: str,
    unsubscribe_url: str | None = None,
    reply_to: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """Build a multipart/alternative message to one recipient."""
    msg = EmailMessage(policy=_POLICY)
    _set_address(msg, "From", sender, single=True)
    _set_address(msg, "To", to, single=True)
    if reply_to is not None:
        _set_address(msg, "Reply-To", reply_to, single=False)
    msg["Subject"] = _check("subject", subject)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=_check("message_id_domain", message_id_domain))
    if unsubscribe_url is not None:
        msg["List-Unsubscribe"] = f"<{_check_url(unsubscribe_url)}>"
        # RFC 8058: tells the mailbox provider a bare POST unsubscribes, no page visit needed.
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in (extra_headers or {}).items():
        if not isinstance(name, str) or not _FIELD_NAME.match(name):
            raise ValueError(f"invalid header name {name!r}")
        if name.lower() in _RESERVED:
            raise ValueError(f"header {name!r} is set by compose() itself")
        msg[name] = _check(f"header {name}", value)
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg


def message_bytes(msg: EmailMessage) -> bytes:
    """Serialize a message with CRLF line endings, ready for SMTP DATA."""
    return msg.as_bytes(policy=email.policy.SMTP)


def format_address(display_name: str, address: str) -> str:
    """Format "Name <address>", encoding non-ASCII names and dropping control characters."""
    _check("address", address)
    name = " ".join(_CONTROL.sub(" ", display_name).split())
    local, at, domain = address.rpartition("@")
    if not at or not local.isascii():
        raise ValueError(f"address must be ASCII user@domain: {address!r}")
    return formataddr((name, f"{local}@{_idna(domain)}"))
