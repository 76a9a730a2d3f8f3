"""The one classifier of SMTP replies and bounce statuses: why mail failed, and is the address dead.

Only a failure that says the address itself does not exist marks it dead (the caller suppresses
it): an unknown mailbox, an unknown domain, a domain that takes no mail (null MX), a mailbox that
has moved away. A full mailbox, a spam or policy refusal, a refusal of *our* sender, a filter or a
network problem leave the address alive, because suppressing a live address loses a person for
good while a missed dead one only costs another attempt.

The reasons and the phrasings behind them follow what sisimai learnt from years of real bounce
mail; notably, "user unknown" wording alone is trusted only when the refusal came in answer to
RCPT TO or with an address-status code (X.1.X): after DATA it is a content filter's excuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailer import phrases, reasons
from mailer.reasons import Reason
from mailer.status_codes import ENHANCED, pick_status, reply_code

__all__ = ["Reason", "Verdict", "classify_bounce", "classify_reply"]

# Longest diagnostic or context read; the phrases that decide are near the start.
_MAX_TEXT = 4000


@dataclass(frozen=True)
class Verdict:
    """What one failure means: its status, its reason, and whether the address is dead."""

    status: str | None
    reason: Reason
    permanent: bool
    dead_address: bool


# Wording that beats the status code, in order: each says the failure is about something other
# than the address existing (or, for the first few, names the reason more precisely).
_WORDING: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    (Reason.MAILBOX_FULL, phrases.MAILBOX_FULL),
    (Reason.SYSTEM_FULL, phrases.SYSTEM_FULL),
    (Reason.MESSAGE_TOO_BIG, phrases.MESSAGE_TOO_BIG),
    (Reason.MAILER_ERROR, phrases.MAILER_ERROR),
    (Reason.HAS_MOVED, phrases.HAS_MOVED),
    (Reason.NOT_ACCEPT, phrases.NOT_ACCEPT),
    (Reason.NO_RELAYING, phrases.NO_RELAYING),
    (Reason.REJECTED, phrases.REJECTED),
    (Reason.AUTH_FAILURE, phrases.AUTH_FAILURE),
    (Reason.BLOCKED, phrases.BLOCKED),
    (Reason.SPAM, phrases.SPAM),
    (Reason.FILTERED, phrases.FILTERED),
    (Reason.SUSPENDED, phrases.SUSPENDED),
    (Reason.POLICY, phrases.POLICY),
    (Reason.TOO_MANY_CONNECTIONS, phrases.TOO_MANY_CONNECTIONS),
    (Reason.SPEEDING, phrases.SPEEDING),
    (Reason.SECURITY_ERROR, phrases.SECURITY_ERROR),
    (Reason.SYSTEM_ERROR, phrases.SYSTEM_ERROR),
    (Reason.EXPIRED, phrases.EXPIRED),
    (Reason.NETWORK_ERROR, phrases.NETWORK_ERROR),
)
_CAPACITY = ((Reason.MAILBOX_FULL, phrases.MAILBOX_FULL), (Reason.SYSTEM_FULL, phrases.SYSTEM_FULL))

# Which SMTP command the refusal answered, as MTAs say it: Postfix "(in reply to RCPT TO
# command)", Exim "after RCPT TO:<...>", Sendmail transcripts ">>> RCPT To:<...>".
_COMMAND = re.compile(
    r"(?:in reply to|after|>>>) ?(rcpt to|end of data|data|mail from|helo|ehlo|"
    r"initial connection|connect)"
)
_COMMAND_NAME = {"rcpt to": "RCPT", "end of data": "DATA", "data": "DATA", "mail from": "MAIL"}
_REFUSAL = re.compile(r"<<< ?[45]\d\d")
# Other ways MTAs say a refusal answered RCPT TO: qmail's "does not like recipient", Postfix's
# "Recipient address rejected" (its RCPT TO restrictions), Yahoo's "[RCPT_TO]".
_SAYS_RCPT = re.compile(
    r"does not like recipient|rejected address|recipient address rejected|rcpt[ _]to\b"
    r"|\brcpt: <"
)
_SAYS_HELO = re.compile(r"my name was rejected|helo command rejected|initial connection")
# A reply that names the recipient right after its code ("550 <a@b>: ...") most likely answered
# RCPT TO, but that is an inference, not a statement.
_ECHOES_RECIPIENT = re.compile(
    r"[245]\d\d[ :-]{0,3}(?:[245]\.\d{1,3}\.\d{1,3} )?['\"]?<[^<> ]{1,64}@[^<> ]{1,255}>"
    r"(?::|\.\.\.| \.\.\.)"
)
_LOCAL_AGENT_TYPES = frozenset({"x-unix", "x-local"})
_WHITESPACE = re.compile(r"\s+")
_URL_TAIL = re.compile(r"((?:https?://|www\.)[^\s<>?#]{1,2000})[?#][^\s<>]{0,2000}")
_ADDRESS = re.compile(r"[^\s<>\[\](),;:'\"]{1,64}@[^\s<>\[\](),;:'\"]{1,255}")


def _normal(text: str | None) -> str:
    text = _WHITESPACE.sub(" ", (text or "")[:_MAX_TEXT]).strip().lower()
    # An address is not wording ("filtered@example.jp: user unknown" is no filter), nor is a
    # link's query or fragment ("...?p=NoSuchUser", "#filtered"); its host may be
    # ("www.spamhaus.org/query/bl").
    return _ADDRESS.sub("x@x", _URL_TAIL.sub(r"\1", text))


def _explicit_command(text: str) -> str | None:
    """Return the SMTP command (RCPT, DATA, MAIL, CONN) a failure answered, if the text says."""
    # In a transcript (">>> MAIL From:<> ... <<< 250 ok >>> RCPT To:<x> <<< 550 ..."), the
    # command that failed is the last one sent before the first refusal.
    refusal = _REFUSAL.search(text)
    commands = list(_COMMAND.finditer(text, 0, refusal.start() if refusal else len(text)))
    if not commands and refusal:
        commands = list(_COMMAND.finditer(text))
    if commands:
        return _COMMAND_NAME.get(commands[-1].group(1), "CONN")
    return None


def _command(diagnostic: str, context: str) -> str | None:
    """Return the SMTP command the failure answered (RCPT, DATA, MAIL, CONN), if known."""
    # "RCPT?" means the wording implies RCPT TO without saying so.
    stated = _explicit_command(diagnostic) or _explicit_command(context)
    if stated:
        return stated
    if _SAYS_HELO.search(diagnostic):
        return "CONN"
    if _SAYS_RCPT.search(diagnostic):
        return "RCPT"
    return "RCPT?" if _ECHOES_RECIPIENT.search(diagnostic) else None


def _wording(text: str) -> Reason | None:
    for reason, pattern in _WORDING:
        if pattern.search(text):
            return reason
    return None


def _reason(status: str | None, text: str, command: str | None, context: str) -> Reason:
    for reason, pattern in _CAPACITY:
        # A report that says "not enough disk space" above a 5.1.1 means every recipient.
        if pattern.search(context):
            return reason
    said = _wording(text)
    if said is not None:
        return said
    subject = status.split(".", 1)[1] if status else ""
    coded = reasons.BY_CODE.get(subject)
    if command == "MAIL" and (coded in reasons.DEAD or coded is None):
        return Reason.REJECTED  # refused at MAIL FROM: about our sender, whatever it says
    if command == "CONN" and (coded in reasons.DEAD or coded is None):
        return Reason.BLOCKED  # refused at connection or HELO: about our host
    if coded is Reason.HOST_UNKNOWN and phrases.TRANSIENT.search(text):
        return Reason.NETWORK_ERROR  # "Host not found, try again": DNS trouble, not a verdict
    if coded in reasons.STRONG:
        return coded
    unknown_user = phrases.USER_UNKNOWN.search(text)
    if command == "DATA" and unknown_user:
        return Reason.FILTERED  # "user unknown" after the content was seen: a filter's excuse
    # X.2.1 says "mailbox disabled": "user unknown" wording under it needs RCPT TO stated.
    if unknown_user and (command == "RCPT" or (command == "RCPT?" and subject != "2.1")):
        return Reason.USER_UNKNOWN
    if command is None and phrases.USER_UNKNOWN_ALONE.search(text):
        return Reason.USER_UNKNOWN
    if phrases.HOST_UNKNOWN.search(text) and command != "DATA":
        if phrases.TRANSIENT.search(text):
            return Reason.NETWORK_ERROR
        return Reason.HOST_UNKNOWN
    if unknown_user:
        # No sign that the refusal answered RCPT TO: sisimai calls this a filter, and a wrong
        # "dead" here would suppress a live address.
        return Reason.FILTERED
    if coded is not None:
        return coded
    return reasons.BY_SUBJECT.get(subject.split(".")[0], Reason.UNDEFINED)


def _verdict(
    status: str | None, klass: str | None, text: str, command: str | None, context: str, final: bool
) -> Verdict:
    reason = _reason(status, text, command, context)
    if status is None and klass in ("4", "5"):
        status = f"{klass}.{reasons.CODE_OF.get(reason, '0.0')}"
    permanent = (status or klass or "")[:1] == "5"
    dead = reason in reasons.DEAD and (permanent or final)
    if reason is Reason.NOT_ACCEPT:
        dead = permanent  # a null MX is for good; "not accepting now" (4xx) is not
    return Verdict(status, reason, permanent, dead)


def classify_reply(code: int | None, text: str | None) -> Verdict:
    """Classify one SMTP reply our transport got (code 550, text '5.1.1 <x@y>: no such user')."""
    klass = str(code)[0] if code and 200 <= code < 600 else None
    status = pick_status(None, text)
    if status and klass and status[0] != klass:
        status = None  # the reply code is the verdict; a contradicting enhanced code is noise
    normal = _normal(text)
    # Our transport reports each recipient's refusal as its own reply, normally to RCPT TO.
    command = _command(normal, "") or "RCPT"
    return _verdict(status, klass or (status or "")[:1] or None, normal, command, "", False)


def classify_bounce(
    status: str | None,
    diagnostic: str | None,
    action: str | None = None,
    diagnostic_type: str | None = None,
    context: str = "",
) -> Verdict:
    """Classify one failed recipient of a delivery status notification."""
    action = (action or "").strip().lower() or None
    literal = ENHANCED.search(status) if status else None
    status = pick_status(literal.group(0) if literal else None, diagnostic)
    normal = _normal(diagnostic)
    context_text = _normal(context)
    if (diagnostic_type or "").strip().lower() in _LOCAL_AGENT_TYPES:
        # A local delivery agent (procmail, a pipe) failed: the host's or our mailer's problem.
        return Verdict(status, Reason.MAILER_ERROR, (status or "5")[0] == "5", False)
    code = reply_code(normal)
    klass: str | None = (status or "")[:1] or (str(code)[0] if code else None)
    if klass is None and action in ("failed", "delayed"):
        klass = "5" if action == "failed" else "4"
    command = _command(normal, context_text)
    verdict = _verdict(status, klass, normal, command, context_text, action == "failed")
    if action == "delayed":
        # Still being retried: not a verdict on the address, whatever the last reply said.
        return Verdict(verdict.status, verdict.reason, False, False)
    return verdict
