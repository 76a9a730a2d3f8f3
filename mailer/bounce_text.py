"""Reading the human-readable text of a bounce: recipients named in prose, and redaction."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mailer import errors

__all__ = [
    "ADDRESS",
    "MAX_LINE_CHARS",
    "cut_original",
    "fallback_recipients",
    "unquote",
    "paragraphs",
    "recipients_in_text",
    "redact",
    "valid_address",
]

# An address as bounces print it: a dot-atom-ish local part (bounces carry whatever the MTA
# accepted) or a quoted one ("a....b"@example.org), then a domain or an address literal.
_LOCAL = r'(?:"[^"\\\r\n]{1,64}"|[^\s<>@"(),:;\[\]]{1,64})'
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,252})|\[[0-9A-Fa-f:.IPv]{1,45}\])"
ADDRESS = rf"{_LOCAL}@{_DOMAIN}"
_VALID_ADDRESS = re.compile(rf"{ADDRESS}")
MAX_LINE_CHARS = 1000
# Redaction: anything with an @ between non-blanks, quoted local parts included.
_BLANK_LINES = re.compile(r"\n[ \t]*\n")
_QUOTE = re.compile(r"^> ?")
# Where the human-readable part stops and the returned original message begins. Horizontal
# whitespace only: a `\s*` here would run across lines and make the search quadratic.
_ORIGINAL_MARKER = re.compile(
    r"^[ \t]*-+[ \t]*(This is a copy of|Below this line|Original message|Unsent message"
    r"|The original message|Returned message|Undelivered message|Message header follows"
    r"|Original message headers|Headers of the original)",
    re.IGNORECASE | re.MULTILINE,
)
# A recipient that starts a block on a line of its own (Exim, Sendmail, qmail), as
# "<addr>: reason" (Postfix, qmail) or as "<addr>... reason" (Sendmail transcripts).
_RECIPIENT_LINE = re.compile(
    rf"^[ \t]*<?(?P<addr>{ADDRESS})>?:?[ \t]*$"
    rf"|^[ \t]*<(?P<addr2>{ADDRESS})>(?:[ \t]*\([^)]{{0,200}}\))?:[ \t]*(?P<rest>.*)$"
    rf"|^[ \t]*(?:[245]\d\d[ -](?:[245]\.\d{{1,3}}\.\d{{1,3}} )?)?<?(?P<addr3>{ADDRESS})>?"
    rf"[ \t]?\.\.\.[ \t]*"
    rf"(?P<rest3>.*)$"
    rf"|^[ \t]*(?P<addr4>{ADDRESS}):[ \t]+(?P<rest4>\S.*)$"
    # Exchange: "a@b on Thu, 29 Apr 2010 00:00:00 -0000", its reasons indented below.
    rf"|^[ \t]*<?(?P<addr5>{ADDRESS})>? on [A-Z][a-z]{{2}}, "
)
# Fallbacks for bounces that name their recipient in no usual way: "Did not reach the following
# recipient: a@b", a transcript's "RCPT TO:<a@b>", the returned message's "To:" header.
_LABELLED = re.compile(
    rf"^(?P<label>[^\n]{{1,200}}?)(?::| to)[ \t]*<?(?P<addr>{ADDRESS})>?\.?[ \t]*$"
)
# A refusal that echoes the recipient anywhere in a line: "SMTP:RCPT host x: 553 <a@b>... No".
_ECHOED = re.compile(
    rf"[245]\d\d[ -](?:[245]\.\d{{1,3}}\.\d{{1,3}} )?<(?P<addr>{ADDRESS})>(?:\.\.\.|:)"
)
_HEADER_NAME = re.compile(r"[ \t]*[A-Za-z][\w-]{0,40}")
_FAILURE_WORDS = re.compile(
    r"fail|unable|could ?n[o']t|not (?:be )?deliver|did not reach|reject|unknown|full|invalid"
    r"|error|refused|denied|undeliverable|not found|does not exist|no such",
    re.IGNORECASE,
)
_RCPT_TO = re.compile(rf"rcpt to: ?<(?P<addr>{ADDRESS})>", re.IGNORECASE)
_REPLY_LINE = re.compile(r"(?<![\w.])[45]\d\d[ -][^\n]{0,300}")
_TO_HEADER = re.compile(rf"^to:[ \t]*(?:[^<\n]{{0,100}}<)?(?P<addr>{ADDRESS})", re.I | re.M)
_DELAYED_TEXT = re.compile(
    r"will (keep|continue) trying|not yet been delivered|still trying|delayed|warning:", re.I
)


# One redaction for the whole engine: mailer.errors.redact, linear in its input.
redact = errors.redact


def valid_address(text: str) -> bool:
    """Whether text is one whole address (local part, @, domain)."""
    return len(text) <= 320 and _VALID_ADDRESS.fullmatch(text) is not None


def cut_original(text: str) -> str:
    """Return the text before the returned original message starts."""
    return _ORIGINAL_MARKER.split(text, maxsplit=1)[0]


def unquote(text: str) -> str:
    """Remove one level of "> " quoting when most lines have it: a forwarded bounce."""
    lines = text.split("\n")
    filled = [line for line in lines if line.strip()]
    # Most, not all: the forwarder writes a line or two of its own above the quote. A
    # Sendmail transcript's own ">>> RCPT" lines are far from most of a report.
    if not filled or sum(line.startswith(">") for line in filled) * 3 < len(filled) * 2:
        return text
    return "\n".join(_QUOTE.sub("", line, count=1) for line in lines)


def paragraphs(text: str) -> list[str]:
    """Split text on blank lines."""
    return [p for p in _BLANK_LINES.split(text) if p.strip()]


@dataclass(frozen=True)
class Named:
    """A recipient named in a plain-text bounce, with the lines that explain its failure."""

    address: str
    diagnostic: str
    default_class: str


def recipients_in_text(text: str, limit: int, only: Iterable[str] = ()) -> list[Named]:
    """Recipients a plain-text bounce names with a failure (Exim, qmail, old Sendmail)."""
    wanted = {a.lower() for a in only}
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = _RECIPIENT_LINE.match(line) if len(line) <= MAX_LINE_CHARS else None
        address = (
            (
                match["addr"]
                or match["addr2"]
                or match["addr3"]
                or match["addr4"]
                or match["addr5"]
            ).lower()
            if match
            else None
        )
        if address and (not wanted or address in wanted):
            if address not in found and len(found) >= limit:
                break
            current = found.setdefault(address, [])
            # A Sendmail-style "550 5.1.1 <addr>... User unknown" keeps its reply code.
            rest = (
                (match["rest"] or match["rest4"] or (line if match["addr3"] else None))
                if match
                else None
            )
            if rest:
                current.append(rest.strip())
        elif not line.strip():
            current = None  # a blank line ends the recipient's paragraph
        elif current is not None and len(current) < 20:
            current.append(line.strip()[:MAX_LINE_CHARS])
    default_class = "4" if _DELAYED_TEXT.search(text) else "5"
    named = []
    for address, lines in found.items():
        diagnostic = " ".join(" ".join(lines).split())
        if diagnostic or address in wanted:
            named.append(Named(address, diagnostic, default_class))
    return named


def _failure_lines(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if _FAILURE_WORDS.search(line)]
    return " ".join(" ".join(lines[:5]).split())[:MAX_LINE_CHARS]


def fallback_recipients(text: str, exclude: Iterable[str]) -> list[Named]:
    """The recipient of a bounce that names it in none of the usual ways, with its failure."""
    skip = {a.lower() for a in exclude}
    lines = text.splitlines()
    default_class = "4" if _DELAYED_TEXT.search(text) else "5"
    for i, line in enumerate(lines):
        found = _LABELLED.match(line) if len(line) <= MAX_LINE_CHARS else None
        if not found or _HEADER_NAME.fullmatch(found["label"]) or found["addr"].lower() in skip:
            continue
        # The label and the paragraph that follows it say why it failed.
        tail = [found["label"]]
        for following in lines[i + 1 : i + 8]:
            if not following.strip() and len(tail) > 1:
                break
            tail.append(following)
        explained = "\n".join(tail)
        if _FAILURE_WORDS.search(explained):
            return [Named(found["addr"].lower(), " ".join(explained.split()), default_class)]
    for line in lines:
        echoed = _ECHOED.search(line) if len(line) <= MAX_LINE_CHARS else None
        if echoed and echoed["addr"].lower() not in skip:
            return [Named(echoed["addr"].lower(), " ".join(line.split()), default_class)]
    rcpt = _RCPT_TO.search(text)
    if rcpt and rcpt["addr"].lower() not in skip:
        reply = _REPLY_LINE.search(text, rcpt.end())
        if reply:
            return [Named(rcpt["addr"].lower(), reply.group(0).strip(), default_class)]
    to = _TO_HEADER.search(text)
    if to and to["addr"].lower() not in skip:
        return [Named(to["addr"].lower(), _failure_lines(text[: to.start()]), default_class)]
    return []
