"""Parse delivery status notifications (bounces) into the recipients that failed, and why."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses

from mailer import bounce_text, dsn_fields
from mailer.bounce_text import redact, valid_address
from mailer.classify import Reason, classify_bounce

__all__ = ["FailedRecipient", "Report", "parse_dsn"]

_DS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
# Attachments that carry the original message: their contents are not part of the report,
# and a bounce of a bounce (a DSN inside message/rfc822) must not add recipients.
_ORIGINAL_TYPES = frozenset(
    {"message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"}
)
# Bounds on what is read, so that a hostile report costs linear time and bounded work: real
# reports have a few MIME parts, a human-readable part of some kilobytes and a few recipients.
MAX_MIME_PARTS = 200
MAX_HUMAN_CHARS = 64 * 1024
MAX_RECIPIENTS = 100
MAX_RECIPIENT_BLOCKS = 1000
_BOUNDARY_LINE = re.compile(rb"^--([^\s]{1,70}?)(?:--)?[ \t]*$", re.MULTILINE)
# The bounce's own addresses (the reporting daemon, our sender) are never its failed recipients.
_OWN_HEADERS = ("From", "To", "Return-Path", "Reply-To", "Sender")
_BOUNCE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery|mail-daemon", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|delivery (status|fail|has failed|problem)|failure notice"
    r"|mail delivery failed|could not send|not delivered|delayed mail|delivery delayed"
    r"|mail system error|nondeliverable|non-delivery|rejected|delivery failure",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FailedRecipient:
    """One recipient a bounce reports as failed or delayed, and what its failure means."""

    recipient: str
    status: str | None
    action: str | None
    diagnostic: str | None
    reason: Reason
    #: The address itself is bad (unknown user or domain, null MX, moved): suppress it.
    hard: bool


@dataclass(frozen=True)
class Report:
    """What a bounce says: the failed recipients, and what of it could not be read."""

    recipients: list[FailedRecipient] = field(default_factory=list)
    #: Why something was skipped or the report was not read; never quotes an address.
    problems: list[str] = field(default_factory=list)


def parse_dsn(raw: bytes) -> Report:
    """Read a bounce message: its failed recipients, and the problems met reading it."""
    # One line ending throughout: reports arrive with CRLF, LF and (old Macs) bare CR.
    raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lowered = raw.lower()
    if lowered.count(b"content-type:") > MAX_MIME_PARTS:
        return Report([], [f"more than {MAX_MIME_PARTS} MIME parts: not read"])
    # The stdlib builds an object per delivery-status block; thousands are no real report.
    if lowered.count(b"final-recipient:") > MAX_RECIPIENT_BLOCKS:
        return Report([], [f"more than {MAX_RECIPIENT_BLOCKS} recipient blocks: not read"])
    problems: list[str] = []
    message = _repaired(email.message_from_bytes(raw), raw, problems)
    parts = _report_parts(message)
    # A multipart message whose parts could not be found is read as one text.
    text_types = ("text/plain", "multipart/report", "multipart/mixed")
    human = "\n\n".join(_text(p, problems) for p in parts if p.get_content_type() in text_types)
    whole = bounce_text.unquote(human[:MAX_HUMAN_CHARS])
    human = bounce_text.cut_original(whole)
    blocks = [
        b
        for p in parts
        if p.get_content_type() in _DS_TYPES
        for b in dsn_fields.ds_blocks(p, problems)
    ]
    if not blocks and (
        message.get_content_type() == "multipart/report" or _looks_like_bounce(message)
    ):
        # Some MTAs break the MIME structure (a stray space before the boundary), which folds
        # the delivery-status fields into the text part, and a forwarded bounce quotes them:
        # read them from the text.
        blocks = [b for b in dsn_fields.blocks_from_text(human) if dsn_fields.names_recipient(b)]
    if blocks:
        failed = _from_dsn_blocks(blocks, human, message, problems)
    elif _looks_like_bounce(message):
        failed = _from_plain_text(human, whole, message, problems)
    else:
        problems.append("not a bounce: no delivery-status part, and no bounce sender or subject")
        return Report([], problems)
    if not failed:
        problems.append("no failed recipient found in the report")
    return Report(failed, problems)


def _repaired(message: Message, raw: bytes, problems: list[str]) -> Message:
    """Re-read a multipart message whose declared boundary never appears in its body."""
    if message.get_content_maintype() != "multipart" or isinstance(message.get_payload(), list):
        return message
    _, _, body = raw.partition(b"\n\n")
    found = _BOUNDARY_LINE.search(body)
    if found is None:
        problems.append("multipart message without its declared boundary: read as text")
        return message
    problems.append("multipart message without its declared boundary: read with the one it uses")
    message.set_boundary(found.group(1).decode("ascii", "replace"))
    return email.message_from_bytes(message.as_bytes())


def _report_parts(message: Message) -> list[Message]:
    """Walk the MIME tree without entering the returned original message."""
    # Iterative, not recursive: the part count is bounded, but nesting must not reach the
    # interpreter's recursion limit.
    found, stack = [], [message]
    while stack:
        part = stack.pop()
        content_type = part.get_content_type()
        payload = part.get_payload()
        if content_type in _ORIGINAL_TYPES or content_type in _DS_TYPES:
            found.append(part)
        elif part.get_content_maintype() == "multipart" and isinstance(payload, list):
            stack.extend(reversed([sub for sub in payload if isinstance(sub, Message)]))
        else:
            found.append(part)
    return found


def _text(part: Message, problems: list[str]) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace").replace("\r\n", "\n")
    except LookupError:
        # Unknown charset names are common in bounces; the fields we need are ASCII anyway.
        problems.append("unknown charset in a text part: read as Latin-1")
        return payload.decode("latin-1").replace("\r\n", "\n")


def _from_dsn_blocks(
    blocks: list[Message], human: str, message: Message, problems: list[str]
) -> list[FailedRecipient]:
    rows: list[tuple[str, Message]] = []
    guessed = False
    per_message = [b for b in blocks if not dsn_fields.names_recipient(b)]
    for block in blocks:
        final = dsn_fields.address(dsn_fields.field(block, "Final-Recipient"))
        original = dsn_fields.address(dsn_fields.field(block, "Original-Recipient"))
        # Original-Recipient is the address we sent to, before aliases were expanded; prefer it.
        recipient = original if original and valid_address(original) else final
        if recipient:
            rows.append((recipient, block))
    if not rows and per_message:
        # No per-recipient fields at all: the returned message's To: is who it was meant for.
        rows = [(to, per_message[-1]) for to in _returned_to(message)[:1]]
        guessed = True
        if rows:
            problems.append("no per-recipient fields: the recipient is the returned message's To:")
        else:
            problems.append("no per-recipient fields and no recipient in the returned message")
    if any(not valid_address(r) for r, _ in rows):
        # A mangled Final-Recipient ("@host"): the human-readable part usually names it.
        named = bounce_text.recipients_in_text(human, MAX_RECIPIENTS)
        if len(named) == len(rows) == 1:
            rows = [(named[0].address, rows[0][1])]
    if len(rows) > MAX_RECIPIENTS:
        problems.append(f"more than {MAX_RECIPIENTS} recipients: the rest were not read")
        rows = rows[:MAX_RECIPIENTS]
    paras = bounce_text.paragraphs(human)
    # What the prose says about each recipient stands in for a missing Diagnostic-Code.
    prose = {
        n.address: n.diagnostic
        for n in bounce_text.recipients_in_text(human, MAX_RECIPIENTS, [r for r, _ in rows])
    }
    failed = []
    for recipient, block in rows:
        if not valid_address(recipient):
            problems.append(f"a recipient that is not an address ({redact(recipient)}): skipped")
            continue
        context = _context(paras, recipient, rows)
        item = _recipient_from_block(recipient, block, context, prose.get(recipient), guessed)
        if item is not None:
            failed.append(item)
    return failed


def _context(paras: list[str], recipient: str, rows: list[tuple[str, Message]]) -> str:
    """Paragraphs of the human-readable text about this recipient alone, or about none."""
    others = [r for r, _ in rows if r != recipient]
    # A paragraph naming several recipients can't say which of them its wording is about.
    return "\n".join(p for p in paras if not any(o in p.lower() for o in others))


def _recipient_from_block(
    recipient: str, block: Message, context: str, prose: str | None, guessed: bool = False
) -> FailedRecipient | None:
    action_field = dsn_fields.field(block, "Action")
    action = action_field.split()[0].lower() if action_field else None
    if action not in (None, "failed", "delayed"):
        return None  # delivered, relayed, expanded: nothing went wrong for this recipient
    diag_type, diagnostic = dsn_fields.typed(dsn_fields.field(block, "Diagnostic-Code"))
    diagnostic = diagnostic or prose or None
    status_field = dsn_fields.field(block, "Status")
    if action is None:
        # Some Sendmail reports omit Action; the status class says what happened. A report
        # without per-recipient fields is a failure report all the same.
        klass = (status_field or "").strip()[:1] or ("5" if guessed else "")
        if klass not in ("4", "5"):
            return None
        action = "failed" if klass == "5" else "delayed"
    verdict = classify_bounce(status_field, diagnostic, action, diag_type, context)
    return FailedRecipient(
        recipient, verdict.status, action, diagnostic, verdict.reason, verdict.dead_address
    )


def _returned_to(message: Message) -> list[str]:
    """The To: addresses of the returned original message, as sisimai falls back to."""
    for part in _report_parts(message):
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            headers = inner[0] if isinstance(inner, list) and inner else None
        elif content_type in ("text/rfc822-headers", "message/global-headers"):
            headers = HeaderParser().parsestr(_text(part, []))
        else:
            continue
        if isinstance(headers, Message) and headers.get("To"):
            found = [a.lower() for _, a in getaddresses([str(headers["To"])])]
            return [a for a in found if valid_address(a)]
    return []


def _looks_like_bounce(message: Message) -> bool:
    sender = dsn_fields.field(message, "From") or ""
    subject = dsn_fields.field(message, "Subject") or ""
    return bool(_BOUNCE_SENDER.search(sender) or _BOUNCE_SUBJECT.search(subject))


def _from_plain_text(
    human: str, whole: str, message: Message, problems: list[str]
) -> list[FailedRecipient]:
    """Heuristics for bounces without a delivery-status part (Exim, qmail, old Sendmail)."""
    named = [n for n in bounce_text.recipients_in_text(human, MAX_RECIPIENTS) if n.diagnostic]
    if not named:
        own = [
            a for _, a in getaddresses([dsn_fields.field(message, h) or "" for h in _OWN_HEADERS])
        ]
        named = bounce_text.fallback_recipients(whole, own)
        if named:
            problems.append("no recipient named in the usual way: taken from the text")
    paras = bounce_text.paragraphs(human)
    rows = [(n.address, message) for n in named]
    failed = []
    for item in named:
        if not item.diagnostic:
            continue  # an address mentioned in passing, with no failure attached
        action = "failed" if item.default_class == "5" else "delayed"
        context = _context(paras, item.address, rows)
        verdict = classify_bounce(None, item.diagnostic, action, None, context)
        if verdict.status is None:
            continue
        action = "failed" if verdict.status.startswith("5") else "delayed"
        failed.append(
            FailedRecipient(
                item.address,
                verdict.status,
                action,
                item.diagnostic,
                verdict.reason,
                verdict.dead_address,
            )
        )
    return failed
