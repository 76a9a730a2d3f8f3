"""Parse delivery status notifications (bounces) into the recipients that failed."""

from __future__ import annotations

import base64
import binascii
import contextlib
import email
import logging
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser

from mailer.bounce_rules import Kind, classify, pick_status

log = logging.getLogger(__name__)

__all__ = ["FailedRecipient", "parse_dsn"]

_DS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
# Attachments that carry the original message: their contents are not part of the report,
# and a bounce of a bounce (a DSN inside message/rfc822) must not add recipients.
_ORIGINAL_TYPES = frozenset({"message/rfc822", "text/rfc822-headers", "message/global"})
_ADDRESS = r"[^\s<>@\"(),:;\[\]]+@[A-Za-z0-9][A-Za-z0-9.\-]*"
_VALID_ADDRESS = re.compile(rf"^{_ADDRESS}$")
_BLANK_LINES = re.compile(r"\n[ \t]*\n")
# Plain-text bounces: a recipient starts a block on a line of its own (Exim, Sendmail, qmail),
# as "<addr>: reason" (Postfix, qmail) or as "<addr>... reason" (Sendmail transcripts).
_RECIPIENT_LINE = re.compile(
    rf"^\s*<?(?P<addr>{_ADDRESS})>?:?\s*$"
    rf"|^\s*<(?P<addr2>{_ADDRESS})>(?:\s*\([^)]*\))?:\s*(?P<rest>.*)$"
    rf"|^(?:[245]\d\d[ -](?:[245]\.\d+\.\d+ )?)?<?(?P<addr3>{_ADDRESS})>?\.\.\.\s*(?P<rest3>.*)$"
)
# Where the human-readable part stops and the returned original message begins.
# Horizontal whitespace only: a `\s*` here would run across lines and make the search quadratic
# on a body of blank lines.
_ORIGINAL_MARKER = re.compile(
    r"^[ \t]*-+[ \t]*(This is a copy of|Below this line|Original message|Unsent message"
    r"|The original message|Returned message|Undelivered message)",
    re.IGNORECASE | re.MULTILINE,
)
_BOUNCE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery|mail-daemon", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|delivery (status|fail|has failed|problem)|failure notice"
    r"|mail delivery failed|could not send|not delivered|delayed mail|delivery delayed",
    re.IGNORECASE,
)
# Bounds on what is read, so that a hostile report costs linear time and bounded work: real
# reports have a few MIME parts, a human-readable part of some kilobytes and a few recipients.
MAX_MIME_PARTS = 200
MAX_HUMAN_CHARS = 64 * 1024
MAX_LINE_CHARS = 1000
MAX_RECIPIENTS = 100
_DELAYED_TEXT = re.compile(
    r"will (keep|continue) trying|not yet been delivered|still trying|delayed|warning:", re.I
)


@dataclass(frozen=True)
class FailedRecipient:
    """One recipient a bounce reports as failed or delayed."""

    recipient: str
    status: str | None
    action: str | None
    diagnostic: str | None
    kind: Kind


def parse_dsn(raw: bytes) -> list[FailedRecipient]:
    """Return the failed recipients of a bounce message, or [] if it is not a bounce."""
    if raw.lower().count(b"content-type:") > MAX_MIME_PARTS:
        log.warning("bounce message with too many MIME parts ignored")
        return []
    try:
        message = email.message_from_bytes(raw)
        return _parse(message)
    except Exception:
        # Bounces come from the whole internet; a malformed one must not break the queue
        # that feeds them in, so it is logged and treated as "not a bounce".
        log.warning("unparseable bounce message ignored", exc_info=True)
        return []


def _parse(message: Message) -> list[FailedRecipient]:
    parts = list(_report_parts(message))
    human = "\n\n".join(_text(p) for p in parts if p.get_content_type() == "text/plain")
    human = _ORIGINAL_MARKER.split(human[:MAX_HUMAN_CHARS], maxsplit=1)[0]
    blocks = [b for p in parts if p.get_content_type() in _DS_TYPES for b in _ds_blocks(p)]
    if not blocks and message.get_content_type() == "multipart/report":
        # Some MTAs break the MIME structure (a stray space before the boundary), which folds
        # the delivery-status fields into the text part; read them from there.
        blocks = _blocks_from_text(human)
    if blocks:
        return _from_dsn_blocks(blocks[:MAX_RECIPIENTS], human)
    if not _looks_like_bounce(message):
        return []
    return _from_plain_text(human)


def _report_parts(message: Message) -> Iterator[Message]:
    """Walk the MIME tree without entering the returned original message."""
    # Iterative, not recursive: the part count is bounded, but nesting must not reach the
    # interpreter's recursion limit.
    stack = [message]
    while stack:
        part = stack.pop()
        content_type = part.get_content_type()
        if content_type in _ORIGINAL_TYPES or content_type in _DS_TYPES:
            yield part
        elif part.is_multipart():
            subs = [sub for sub in part.get_payload() if isinstance(sub, Message)]
            stack.extend(reversed(subs))
        else:
            yield part


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace").replace("\r\n", "\n")
    except LookupError:
        # Unknown charset names are common in bounces; the fields we need are ASCII anyway.
        return payload.decode("latin-1").replace("\r\n", "\n")


def _ds_blocks(part: Message) -> list[Message]:
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
            return []  # truncated base64: no fields can be trusted
    elif encoded == "quoted-printable":
        data = quopri.decodestring(data)
    return _blocks_from_text(data.decode("utf-8", errors="replace"))


def _blocks_from_text(text: str) -> list[Message]:
    """Parse "Field: value" paragraphs that carry a recipient, as found in a DSN body."""
    parser = HeaderParser()
    blocks = []
    for chunk in _BLANK_LINES.split(text.replace("\r\n", "\n")):
        if "recipient" not in chunk.lower():
            continue  # cheaper than parsing every paragraph of a long text as headers
        block = parser.parsestr(chunk.strip("\n") + "\n")
        if block.get("Final-Recipient") or block.get("Original-Recipient"):
            blocks.append(block)
    return blocks


def _field(block: Message, name: str) -> str | None:
    value = block.get(name)
    if value is None:
        return None
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = " ".join(text.split())
    return text or None


def _typed(value: str | None) -> tuple[str | None, str | None]:
    """Split "smtp; 550 ..." into ("smtp", "550 ...")."""
    if value is None:
        return None, None
    kind, sep, rest = value.partition(";")
    if not sep:
        return None, value.strip() or None
    return kind.strip().lower() or None, rest.strip() or None


def _address(value: str | None) -> str | None:
    kind, address = _typed(value)
    if not address or (kind and kind not in ("rfc822", "utf-8")):
        return None
    address = address.strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if local.startswith("=?") and local.endswith("?="):
        # Sendmail copies an RFC 2047 encoded-word local part verbatim; decode it before
        # lower-casing, which would otherwise corrupt the base64.
        # A malformed encoded-word is kept as written rather than dropping the recipient.
        with contextlib.suppress(ValueError, LookupError, UnicodeError):
            address = f"{make_header(decode_header(local))}{at}{domain}"
    return address.lower() or None


def _from_dsn_blocks(blocks: list[Message], human: str) -> list[FailedRecipient]:
    rows: list[tuple[str, Message]] = []
    for block in blocks:
        final = _address(_field(block, "Final-Recipient"))
        original = _address(_field(block, "Original-Recipient"))
        # Original-Recipient is the address we sent to, before aliases were expanded; prefer it.
        recipient = original if original and _VALID_ADDRESS.match(original) else final
        if recipient:
            rows.append((recipient, block))
    if any(not _VALID_ADDRESS.match(r) for r, _ in rows):
        # A mangled Final-Recipient ("@host"): the human-readable part usually names it.
        named = [r.recipient for r in _from_plain_text(human)]
        if len(named) == len(rows) == 1:
            rows = [(named[0], rows[0][1])]
    general = _general_text(human, [r for r, _ in rows])
    failed = []
    for recipient, block in rows:
        item = _recipient_from_block(recipient, block, general)
        if item is not None:
            failed.append(item)
    return failed


def _recipient_from_block(recipient: str, block: Message, general: str) -> FailedRecipient | None:
    action_field = _field(block, "Action")
    action = action_field.split()[0].lower() if action_field else None
    if action not in (None, "failed", "delayed"):
        return None  # delivered, relayed, expanded: nothing went wrong for this recipient
    diag_type, diagnostic = _typed(_field(block, "Diagnostic-Code"))
    default_class = {"failed": "5", "delayed": "4"}.get(action or "")
    status = pick_status(_field(block, "Status"), diagnostic, default_class)
    if action is None:
        # Some Sendmail reports omit Action; the status class says what happened.
        if status is None or status[0] not in "45":
            return None
        action = "failed" if status[0] == "5" else "delayed"
    kind = classify(status, action, diagnostic, diag_type, general)
    return FailedRecipient(recipient, status, action, diagnostic, kind)


def _general_text(human: str, recipients: list[str]) -> str:
    """Paragraphs of the human-readable part that name none of the recipients."""
    lowered = [r.lower() for r in recipients]
    return "\n".join(
        para for para in _BLANK_LINES.split(human) if not any(r in para.lower() for r in lowered)
    )


def _looks_like_bounce(message: Message) -> bool:
    sender = _field(message, "From") or ""
    subject = _field(message, "Subject") or ""
    return bool(_BOUNCE_SENDER.search(sender) or _BOUNCE_SUBJECT.search(subject))


def _from_plain_text(text: str) -> list[FailedRecipient]:
    """Heuristics for bounces without a delivery-status part (Exim, qmail, old Sendmail)."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = _RECIPIENT_LINE.match(line) if len(line) <= MAX_LINE_CHARS else None
        if match:
            address = (match["addr"] or match["addr2"] or match["addr3"]).lower()
            current = found.setdefault(address, [])
            rest = match["rest"] or match["rest3"]
            if rest:
                current.append(rest.strip())
        elif not line.strip():
            current = None  # a blank line ends the recipient's paragraph
        elif current is not None:
            current.append(line.strip())
    default_class = "4" if _DELAYED_TEXT.search(text) else "5"
    failed = []
    for address, lines in list(found.items())[:MAX_RECIPIENTS]:
        diagnostic = " ".join(" ".join(lines).split())
        if not diagnostic:
            continue  # an address mentioned in passing, with no failure attached
        status = pick_status(None, diagnostic, default_class)
        if status is None:
            continue
        action = "failed" if status.startswith("5") else "delayed"
        kind = classify(status, action, diagnostic)
        failed.append(FailedRecipient(address, status, action, diagnostic, kind))
    return failed
