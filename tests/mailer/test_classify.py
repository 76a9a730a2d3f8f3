"""Tests for mailer.classify: only "this address does not exist" marks an address dead."""

from __future__ import annotations

import pytest

from mailer.classify import Reason, Verdict, classify_bounce, classify_reply


@pytest.mark.parametrize(
    ("code", "text", "status", "reason", "permanent", "dead"),
    [
        (550, "5.1.1 <a@example.com>: no such user", "5.1.1", Reason.USER_UNKNOWN, True, True),
        (
            550,
            "5.1.10 Recipient address rejected: null MX",
            "5.1.10",
            Reason.NOT_ACCEPT,
            True,
            True,
        ),
        (556, "5.1.10 ", "5.1.10", Reason.NOT_ACCEPT, True, True),
        (550, "5.7.1 Message refused: looks like spam", "5.7.1", Reason.SPAM, True, False),
        (552, "5.2.2 Mailbox full", "5.2.2", Reason.MAILBOX_FULL, True, False),
        # 5.1.8 is about *our* sender's domain: a DMARC mistake must not suppress an audience.
        (550, "5.1.8 Sender domain rejected", "5.1.8", Reason.REJECTED, True, False),
        (
            553,
            "5.1.8 <news@spotcam.example>: Sender address rejected: Domain not found",
            "5.1.8",
            Reason.REJECTED,
            True,
            False,
        ),
        # A bare refusal says nothing about the address.
        (550, "rejected", "5.0.0", Reason.UNDEFINED, True, False),
        (551, "User not local; please try <b@example.org>", "5.0.0", Reason.UNDEFINED, True, False),
        (553, "mailbox name not allowed", "5.0.0", Reason.UNDEFINED, True, False),
        (550, "User unknown", "5.1.1", Reason.USER_UNKNOWN, True, True),
        (550, "5.0.0 User unknown", "5.0.0", Reason.USER_UNKNOWN, True, True),
        (550, "5.5.0 User not found", "5.5.0", Reason.USER_UNKNOWN, True, True),
        (
            550,
            "5.0.0 <a@example.com>: Recipient address rejected: User unknown in local "
            "recipient table",
            "5.0.0",
            Reason.USER_UNKNOWN,
            True,
            True,
        ),
        (550, "5.5.0 Invalid recipient", "5.5.0", Reason.USER_UNKNOWN, True, True),
        (550, "5.4.4 Host not found", "5.4.4", Reason.HOST_UNKNOWN, True, True),
        (
            550,
            "5.4.1 Recipient address rejected: Access denied. AS(201806281)",
            "5.4.1",
            Reason.USER_UNKNOWN,
            True,
            True,
        ),
        # Without the recipient-address wording "access denied" is a policy, not a verdict.
        (550, "5.4.1 Access denied", "5.4.1", Reason.SECURITY_ERROR, True, False),
        (550, "5.2.1 The message was filtered", "5.2.1", Reason.FILTERED, True, False),
        (
            550,
            "5.2.1 The email account that you tried to reach is disabled.",
            "5.2.1",
            Reason.SUSPENDED,
            True,
            False,
        ),
        (
            550,
            "5.7.26 Unauthenticated email from spotcam.example is not accepted due to "
            "domain's DMARC policy",
            "5.7.26",
            Reason.AUTH_FAILURE,
            True,
            False,
        ),
        (
            554,
            "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
            "5.7.1",
            Reason.BLOCKED,
            True,
            False,
        ),
        # A temporary failure is never a verdict on the address, whatever it says.
        (
            450,
            "4.1.1 <a@example.com>: Recipient address rejected: User unknown",
            "4.1.1",
            Reason.USER_UNKNOWN,
            False,
            False,
        ),
        (452, "4.2.2 Over quota", "4.2.2", Reason.MAILBOX_FULL, False, False),
        (
            421,
            "4.7.0 Try again later, closing connection.",
            "4.7.0",
            Reason.SECURITY_ERROR,
            False,
            False,
        ),
    ],
)
def test_classify_reply(
    code: int, text: str, status: str, reason: Reason, permanent: bool, dead: bool
) -> None:
    assert classify_reply(code, text) == Verdict(status, reason, permanent, dead)


def test_reply_without_code_or_text() -> None:
    assert classify_reply(None, None) == Verdict(None, Reason.UNDEFINED, False, False)


def test_reply_code_beats_a_contradicting_enhanced_code() -> None:
    verdict = classify_reply(450, "5.1.1 no such user")
    assert (verdict.status, verdict.permanent, verdict.dead_address) == ("4.1.1", False, False)


@pytest.mark.parametrize(
    ("status", "diagnostic", "action", "diagnostic_type", "context", "reason", "dead"),
    [
        ("5.1.1", "550 5.1.1 User unknown", "failed", "smtp", "", Reason.USER_UNKNOWN, True),
        ("5.1.1", "550 5.1.1 User unknown", "delayed", "smtp", "", Reason.USER_UNKNOWN, False),
        # A mailbox that exists but is full, behind a sloppy 5.1.1.
        ("5.1.1", "550 5.1.1 mailbox full", "failed", "smtp", "", Reason.MAILBOX_FULL, False),
        # A local delivery agent failed: our mailer's or the host's trouble.
        ("5.1.1", "procmail: couldn't create", "failed", "x-unix", "", Reason.MAILER_ERROR, False),
        # "Not enough disk space" above the recipients applies to each of them.
        (
            "5.1.1",
            "550 5.1.1 User unknown",
            "failed",
            "smtp",
            "Not enough disk space",
            Reason.SYSTEM_FULL,
            False,
        ),
        # Gave up after days of "450 user unknown" at RCPT TO: the address is gone.
        (
            "4.1.1",
            "450 4.1.1 <a@example.org>: Recipient address rejected: User unknown in "
            "virtual alias table",
            "failed",
            "smtp",
            "",
            Reason.USER_UNKNOWN,
            True,
        ),
        # After DATA, "user unknown" is a content filter's excuse (sisimai: filtered).
        (
            "5.0.0",
            "550 User unknown",
            "failed",
            "smtp",
            "SMTP error from remote mail server after end of data",
            Reason.FILTERED,
            False,
        ),
        # Refused at MAIL FROM: about our sender, whatever the code.
        (
            "5.1.0",
            "553 5.1.0 sender rejected",
            "failed",
            "smtp",
            "SMTP error from remote mail server after MAIL FROM:<news@spotcam.example>",
            Reason.REJECTED,
            False,
        ),
        # "User unknown" with nothing saying it answered RCPT TO: not proof enough.
        (None, "550 Unknown user", "failed", None, "", Reason.FILTERED, False),
        (
            "5.2.1",
            "550 5.2.1 <a@example.jp>... User Unknown",
            "failed",
            "smtp",
            "",
            Reason.FILTERED,
            False,
        ),
        (
            "5.2.1",
            "550 5.2.1 <a@example.jp>... User Unknown",
            "failed",
            "smtp",
            ">>> RCPT To:<a@example.jp>\n<<< 550 5.2.1 <a@example.jp>... User Unknown",
            Reason.USER_UNKNOWN,
            True,
        ),
        # Postfix's "Recipient address rejected" comes from its RCPT TO restrictions, and an
        # address is not wording: "filtered@" is no filter.
        (
            "5.2.1",
            "550 5.2.1 <filtered@example.jp>: Recipient address rejected: User unknown",
            "failed",
            "smtp",
            "",
            Reason.USER_UNKNOWN,
            True,
        ),
        # A link's fragment is not wording; its host can be.
        (
            "5.2.1",
            "550 5.2.1 <a@b.example>: Recipient address rejected: User unknown. See "
            "https://help.example/reasons#filtered",
            "failed",
            "smtp",
            "",
            Reason.USER_UNKNOWN,
            True,
        ),
        (
            "5.1.3",
            "553 http://www.spamhaus.org/query/bl?ip=192.0.2.222",
            "failed",
            "smtp",
            "",
            Reason.BLOCKED,
            False,
        ),
        ("5.0.0", "550 Host does not accept mail", "failed", "smtp", "", Reason.NOT_ACCEPT, True),
        (
            "5.1.6",
            "550 5.1.6 recipient no longer on server",
            "failed",
            "smtp",
            "",
            Reason.HAS_MOVED,
            True,
        ),
        ("4.4.7", "", "failed", None, "", Reason.EXPIRED, False),
    ],
)
def test_classify_bounce(
    status: str | None,
    diagnostic: str,
    action: str,
    diagnostic_type: str | None,
    context: str,
    reason: Reason,
    dead: bool,
) -> None:
    verdict = classify_bounce(status, diagnostic, action, diagnostic_type, context)
    assert (verdict.reason, verdict.dead_address) == (reason, dead)


@pytest.mark.parametrize(
    ("diagnostic", "action", "status"),
    [
        ("550 User unknown (in reply to RCPT TO command)", "failed", "5.1.1"),
        # Not said to answer RCPT TO: a filter, whose code no server gave.
        ("550 User unknown", "failed", "5.0.0"),
        ("552 Mailbox full", "failed", "5.2.2"),
        ("452 Mailbox quota exceeded", "delayed", "4.2.2"),
        ("552 Message size exceeds fixed maximum message size", "failed", "5.3.4"),
        ("554 Relay access denied", "failed", "5.7.1"),
        ("550 Go away", "failed", "5.0.0"),
        ("Sorry, no mailbox here by that name. (#5.1.1)", "failed", "5.1.1"),
    ],
)
def test_status_derived_from_reply_code_and_wording(
    diagnostic: str, action: str, status: str
) -> None:
    assert classify_bounce(None, diagnostic, action).status == status


def test_server_code_beats_generic_status_of_same_class() -> None:
    assert classify_bounce("5.0.0", "554 5.7.1 Relay access denied", "failed").status == "5.7.1"
    # A temporary server code does not override a permanent Status.
    assert classify_bounce("5.0.0", "450 4.2.0 try later", "failed").status == "5.0.0"
