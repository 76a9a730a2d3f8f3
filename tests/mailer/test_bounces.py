"""Tests for mailer.bounces: the project's own DSN samples, garbage input, and the corpus check."""

from __future__ import annotations

import base64
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

from mailer.bounces import FailedRecipient, Report, parse_dsn
from mailer.classify import Reason

from ..support import hostile_bounces
from ..support.helpers import ROOT, SAMPLES

BOUNCES = SAMPLES / "bounces"
CORPUS = ROOT.parent / "shared" / "samples" / "bounces"
BENCH = ROOT / "bench" / "bounce_corpus.py"


def _report(name: str) -> Report:
    return parse_dsn((BOUNCES / name).read_bytes())


def _parse(name: str) -> list[FailedRecipient]:
    return _report(name).recipients


def _one(name: str) -> tuple[str, str | None, Reason, bool]:
    [failed] = _parse(name)
    return failed.recipient, failed.status, failed.reason, failed.hard


def test_postfix_user_unknown_is_hard() -> None:
    [failed] = _parse("postfix-user-unknown.eml")
    assert failed.recipient == "nobody.here@example.net"
    assert failed.status == "5.1.1"
    assert failed.action == "failed"
    assert (failed.reason, failed.hard) == (Reason.USER_UNKNOWN, True)
    # Folded Diagnostic-Code continuation lines are joined into one line.
    assert failed.diagnostic is not None
    assert "User unknown in virtual mailbox table" in failed.diagnostic


def test_multi_recipient_reports_failed_and_delayed_but_not_delivered() -> None:
    failed, delayed = _parse("multi-failed-delayed.eml")
    # Original-Recipient is the address we sent to, before the remote alias expansion.
    assert (failed.recipient, failed.status, failed.action, failed.hard) == (
        "alias@example.org",
        "5.1.1",
        "failed",
        True,
    )
    assert (delayed.recipient, delayed.status, delayed.action, delayed.hard) == (
        "slow@example.com",
        "4.4.1",
        "delayed",
        False,
    )


def test_mailbox_full_is_soft() -> None:
    assert _one("mailbox-full.eml") == ("full@example.de", "5.2.2", Reason.MAILBOX_FULL, False)


def test_exim_plain_text_bounce() -> None:
    gone, stuffed = _parse("exim-plain.eml")
    assert (gone.recipient, gone.status, gone.action, gone.hard) == (
        "gone@example.co.uk",
        "5.1.1",
        "failed",
        True,
    )
    # No enhanced code in the reply: the status comes from "552" and "quota exceeded".
    assert (stuffed.recipient, stuffed.status, stuffed.reason, stuffed.hard) == (
        "stuffed@example.co.uk",
        "5.2.2",
        Reason.MAILBOX_FULL,
        False,
    )


def test_qmail_spam_rejection_is_soft() -> None:
    assert _one("qmail-plain.eml") == ("spammed@example.net", "5.7.1", Reason.SPAM, False)


def test_quoted_local_part_is_a_recipient() -> None:
    assert _one("quoted-local-part.eml") == (
        '"a....b"@example.org',
        "5.1.1",
        Reason.USER_UNKNOWN,
        True,
    )


def test_report_without_recipient_fields_falls_back_to_the_returned_to() -> None:
    report = _report("no-recipient-fields.eml")
    [failed] = report.recipients
    assert (failed.recipient, failed.action, failed.hard) == (
        "lost.friend@example.com",
        "failed",
        False,
    )
    assert report.problems == [
        "no per-recipient fields: the recipient is the returned message's To:"
    ]


def test_forwarded_bounce_is_read_through_its_quoting() -> None:
    assert _one("forwarded.eml") == ("nobody.there@example.com", "5.1.1", Reason.USER_UNKNOWN, True)


@pytest.mark.parametrize(
    ("name", "recipient", "status", "reason"),
    [
        # "Did not reach the following recipient: a@b" and a paragraph saying why. Not said
        # to answer RCPT TO, so "no such user" is not proof enough to suppress.
        ("did-not-reach.eml", "moved.on@example.net", "5.0.0", Reason.FILTERED),
        # A Postfix server's error notice: the recipient is in the transcript's RCPT TO.
        ("transcript-only.eml", "reader@example.net", "4.3.0", Reason.SYSTEM_ERROR),
        # A refusal that names the recipient in the middle of a line.
        ("echoed-in-line.eml", "no.one@example.com", "5.3.0", Reason.MAILBOX_FULL),
    ],
)
def test_recipient_named_in_no_usual_way(
    name: str, recipient: str, status: str, reason: Reason
) -> None:
    report = _report(name)
    [failed] = report.recipients
    assert (failed.recipient, failed.status, failed.reason, failed.hard) == (
        recipient,
        status,
        reason,
        False,
    )
    # The bounce's own addresses (its sender, its To:, a helpdesk) are not recipients.
    assert report.problems == ["no recipient named in the usual way: taken from the text"]


def test_error_delivering_your_mail_to() -> None:
    report = _report("error-delivering-to.eml")
    assert [(f.recipient, f.status, f.reason, f.hard) for f in report.recipients] == [
        ("left.long.ago@example.org", "5.1.1", Reason.USER_UNKNOWN, True)
    ]


def test_exchange_recipients_with_dates() -> None:
    first, second = _parse("exchange-recipients.eml")
    # Exchange looked the name up in its own directory: no SMTP step to ask about.
    assert (first.recipient, first.reason, first.hard) == (
        "first.person@corp.example.com",
        Reason.USER_UNKNOWN,
        True,
    )
    assert (second.recipient, second.reason) == (
        "second.person@corp.example.com",
        Reason.MESSAGE_TOO_BIG,
    )


def test_declared_boundary_that_never_appears() -> None:
    raw = (BOUNCES / "boundary-never-appears.eml").read_bytes()
    report = parse_dsn(raw)
    assert [(f.recipient, f.status, f.hard) for f in report.recipients] == [
        ("gone.away@example.net", "5.1.1", True)
    ]
    assert report.problems == [
        "multipart message without its declared boundary: read with the one it uses"
    ]
    # With no boundary line at all the body is read as text, fields and prose alike.
    flat = b"\n".join(line for line in raw.split(b"\n") if not line.startswith(b"--"))
    report = parse_dsn(flat)
    assert [(f.recipient, f.status, f.hard) for f in report.recipients] == [
        ("gone.away@example.net", "5.1.1", True)
    ]
    assert report.problems == ["multipart message without its declared boundary: read as text"]


@pytest.mark.parametrize(
    ("name", "status", "reason", "hard"),
    [
        # RFC 3463 says nothing specific, the wording and RCPT TO do.
        ("status-5.0.0-user-unknown.eml", "5.0.0", Reason.USER_UNKNOWN, True),
        # Unable to route: no such domain...
        ("host-not-found.eml", "5.4.4", Reason.HOST_UNKNOWN, True),
        # ...unless the lookup itself failed and may work next time.
        ("host-not-found-try-again.eml", "5.4.4", Reason.NETWORK_ERROR, False),
        # Exchange Online's directory-based edge blocking: no such recipient there.
        ("access-denied-5.4.1.eml", "5.4.1", Reason.USER_UNKNOWN, True),
        # Refused by the recipient's rules after DATA: the mailbox exists.
        ("filtered-5.2.1.eml", "5.2.1", Reason.FILTERED, False),
    ],
)
def test_hard_or_soft_from_status_and_wording(
    name: str, status: str, reason: Reason, hard: bool
) -> None:
    [failed] = _parse(name)
    assert (failed.status, failed.reason, failed.hard) == (status, reason, hard)


@pytest.mark.parametrize("name", ["exim-plain.eml", "multi-failed-delayed.eml", "forwarded.eml"])
@pytest.mark.parametrize("ending", [b"\r\n", b"\r"])
def test_line_endings_do_not_matter(name: str, ending: bytes) -> None:
    raw = (BOUNCES / name).read_bytes()
    assert parse_dsn(raw.replace(b"\n", ending)) == parse_dsn(raw)


def test_ordinary_mail_is_not_a_bounce() -> None:
    report = _report("ordinary.eml")
    assert report.recipients == []
    assert report.problems == [
        "not a bounce: no delivery-status part, and no bounce sender or subject"
    ]


def test_garbage_file_is_not_a_bounce() -> None:
    assert _parse("garbage.eml") == []


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "not a bounce"),
        (b"\x00" * 64, "not a bounce"),
        (bytes(range(256)) * 8, "not a bounce"),
        (
            b"Content-Type: multipart/report; report-type=delivery-status\n\nno boundary at all",
            "read as text",
        ),
        (
            b"Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822;\nAction: failed\n",
            "no failed recipient",
        ),
        (
            b"Content-Type: multipart/report; boundary=z\n\n"
            b"--z\nContent-Type: message/delivery-status\n"
            b"\nFinal-Recipient: rfc822; @example.com\nAction: failed\nStatus: 5.1.1\n--z--\n",
            "a recipient that is not an address (<address>): skipped",
        ),
        (
            b"Content-Type: multipart/mixed; boundary=a\n\n"
            + b"--a\nContent-Type: multipart/mixed; boundary=a\n\n" * 2000,
            "more than 200 MIME parts",
        ),
        (
            b"Content-Type: message/delivery-status\n\n"
            + b"Final-Recipient: rfc822; a@example.com\nAction: failed\n\n" * 1001,
            "more than 1000 recipient blocks",
        ),
        (
            b"From: MAILER-DAEMON@x\nContent-Type: multipart/report; boundary=z\n\n--z\n"
            b"Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
            b"Zm9vY\n--z--\n",
            "a base64 delivery-status part that does not decode",
        ),
    ],
)
def test_what_could_not_be_read_is_reported(raw: bytes, problem: str) -> None:
    report = parse_dsn(raw)
    assert report.recipients == []
    assert any(problem in p for p in report.problems), report.problems


def test_problems_never_quote_an_address() -> None:
    raw = (
        b"Content-Type: multipart/report; boundary=z\n\n"
        b"--z\nContent-Type: message/delivery-status\n"
        b'\nFinal-Recipient: rfc822; secret."person@example.com\nAction: failed\n--z--\n'
    )
    report = parse_dsn(raw)
    assert report.problems and "secret" not in " ".join(report.problems)


def test_base64_delivery_status_part() -> None:
    fields = (
        b"Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; b64@example.com\n"
        b"Action: failed\nStatus: 5.1.2\n"
    )
    raw = (
        b"From: MAILER-DAEMON@x\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=zz\n\n"
        b"--zz\nContent-Type: text/plain\n\nfailed\n"
        b"--zz\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(fields)
        + b"--zz--\n"
    )
    [failed] = parse_dsn(raw).recipients
    assert (failed.recipient, failed.status, failed.hard) == ("b64@example.com", "5.1.2", True)


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bounce_corpus", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sisimai_corpus_targets(tmp_path: Path) -> None:
    if not CORPUS.is_dir():
        message = f"{CORPUS} missing: the bounce corpus check needs it (CI provides ../shared)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)  # only outside CI: with CI=true this fails above
    bench = _load_bench()
    assert bench.main(["--samples", str(CORPUS), "--json", str(tmp_path / "out.json")]) == 0


@pytest.mark.parametrize("name", sorted(hostile_bounces.SHAPES))
def test_hostile_report_is_parsed_in_linear_time(name: str) -> None:
    raw = hostile_bounces.SHAPES[name]
    with hostile_bounces.deadline(1.0):
        parse_dsn(raw)
