"""Status-code and hard/soft rules for bounce parsing, kept apart from the MIME walking."""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal["hard", "soft"]

# An RFC 3463 enhanced status code: class.subject.detail.
ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# An SMTP reply code followed by the enhanced code the server put next to it ("550 5.1.1",
# "550-5.7.1"); codes quoted later in the prose are not the server's verdict.
_REPLY_AND_ENHANCED = re.compile(r"(?<![\d.])([245])\d\d[ -][ \t]{0,3}(\1\.\d{1,3}\.\d{1,3})\b")
# A bare SMTP reply code: at the start, after "said:"/"<<<", or alone before the text.
# Lookbehinds rather than a `\s*` after `\s`, which would rescan every run of blanks.
_REPLY = re.compile(r"(?:(?<!\S)|(?<=said:)|(?<=<<<))([245])(\d\d)(?=[ -]|$)")

_I = re.IGNORECASE

# Diagnostic text → "subject.detail" of the status, for bounces that carry only a reply code.
# Ordered: the first match wins, so capacity and size come before the generic "rejected" ones.
_TEXT_STATUS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"mailbox (is )?full|quota|insufficient (storage|disk)|not enough (disk )?space"
            r"|mailbox size limit|storage (space )?exceeded",
            _I,
        ),
        "2.2",
    ),
    (
        re.compile(
            r"message (is )?too (big|large)|size exceeds|exceeds (the )?(fixed )?maximum"
            r" (message )?size|message size",
            _I,
        ),
        "3.4",
    ),
    (
        re.compile(
            r"host unknown|unknown host|host not found|domain (not found|does not exist)"
            r"|unrouteable|unroutable",
            _I,
        ),
        "1.2",
    ),
    (
        re.compile(
            r"user unknown|unknown user|no such (user|mailbox|recipient|address)"
            r"|does ?n[o']t exist|invalid (recipient|mailbox)|unknown (recipient|mailbox)"
            r"|mailbox unavailable|not a registered|doesn't have an? \S+ account"
            r"|recipient address rejected",
            _I,
        ),
        "1.1",
    ),
    (re.compile(r"relay(ing)? (access )?(denied|not permitted)|not permitted to relay", _I), "7.1"),
    (re.compile(r"disabled|suspended|inactive|frozen|deactivated", _I), "2.1"),
    (re.compile(r"spam|black ?list|block ?list|blocked|policy|dmarc|\bspf\b|\bdkim\b", _I), "7.1"),
    (
        re.compile(
            r"name service error|no mx|timed? ?out|connection refused|expired"
            r"|too long in (the )?queue",
            _I,
        ),
        "4.7",
    ),
)

# Codes that say the address itself is bad: unknown mailbox, unknown domain, bad mailbox
# syntax, moved, null MX (RFC 7505). 5.1.8 and friends are about *our* sender, so not here.
_HARD_CODES = frozenset({"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10"})
USER_UNKNOWN = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient)|does ?n[o']t exist"
    r"|invalid recipient|unknown recipient",
    _I,
)
# A domain that publishes a null MX never accepts mail, so its addresses are dead for good.
_NULL_MX = re.compile(r"host does not accept mail|null mx", _I)
# Wording that says the mailbox exists but can't take this message now, or that the rejection
# is about us (content, reputation, authentication); any of it vetoes a hard call, because
# suppressing a live address loses a customer while a missed hard bounce only costs a retry.
_SOFT_VETO = re.compile(
    r"mailbox (is )?full|quota|disk space|storage|too (big|large)|size|spam|black ?list"
    r"|block ?list|blocked|too (quickly|fast|many)|rate limit|temporar|try again|later"
    r"|policy|dmarc|\bspf\b|\bdkim\b|authenticat|relay|procmail|mailer|suspend|disabled"
    r"|inactive|frozen|over ?limit",
    _I,
)
# The narrower set that disqualifies every recipient when it appears in a human-readable
# paragraph that names no particular recipient (e.g. "Not enough disk space" above a 5.1.1).
_CAPACITY = re.compile(r"mailbox (is )?full|quota|disk space|insufficient storage", _I)
# Local delivery agents (procmail, pipes) report "x-unix"; their failures are our mailer's or
# the host's problem, not proof that the address is wrong.
_LOCAL_AGENT_TYPES = frozenset({"x-unix", "x-local"})


def enhanced_from_diagnostic(text: str | None) -> str | None:
    """Return the enhanced status code the server put next to its reply code, if any."""
    if not text:
        return None
    found = _REPLY_AND_ENHANCED.search(text)
    if found:
        return found.group(2)
    # Some MTAs omit the reply code and start the diagnostic with the enhanced code.
    lead = ENHANCED.match(text.strip())
    return lead.group(0) if lead else None


def reply_class(text: str | None) -> str | None:
    """Return the class digit ("4" or "5") of the first SMTP reply code in text, if any."""
    if not text:
        return None
    found = _REPLY.search(text)
    return found.group(1) if found else None


def status_from_text(text: str | None, default_class: str | None) -> str | None:
    """Derive an enhanced status code from a reply code and wording when none was given."""
    klass = reply_class(text) or default_class
    if klass not in ("4", "5"):
        return None
    for pattern, subject_detail in _TEXT_STATUS:
        if text and pattern.search(text):
            return f"{klass}.{subject_detail}"
    return f"{klass}.0.0"


def pick_status(field: str | None, diagnostic: str | None, default_class: str | None) -> str | None:
    """Choose the status: the server's own code beats the reporting MTA's generic Status."""
    literal = ENHANCED.search(field) if field else None
    status = literal.group(0) if literal else None
    from_server = enhanced_from_diagnostic(diagnostic)
    # The reporting MTA often writes 5.0.0 or a stale code; the remote server's enhanced code
    # is the more specific verdict, as long as both agree on permanent vs temporary.
    if from_server and (status is None or from_server[0] == status[0]):
        return from_server
    if status:
        return status
    return status_from_text(diagnostic, default_class)


def classify(
    status: str | None,
    action: str,
    diagnostic: str | None,
    diagnostic_type: str | None = None,
    general_text: str = "",
) -> Kind:
    """Call a failure hard only when it proves the address is bad, else soft."""
    if action != "failed" or not status or not status.startswith("5."):
        return "soft"
    text = diagnostic or ""
    address_is_bad = (
        status in _HARD_CODES
        or (status == "5.2.1" and bool(USER_UNKNOWN.search(text)))
        or bool(_NULL_MX.search(text))
    )
    if not address_is_bad:
        return "soft"
    if (diagnostic_type or "").lower() in _LOCAL_AGENT_TYPES:
        return "soft"
    if _SOFT_VETO.search(text) or _CAPACITY.search(general_text):
        return "soft"
    return "hard"
