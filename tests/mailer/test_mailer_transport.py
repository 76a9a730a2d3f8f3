from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from mailer.compose import Outgoing, compose
from mailer.errors import PermanentError, TransientError, UnknownOutcome
from mailer.outbox import list_outbox, read_outbox
from mailer.transport import OutboxTransport, SMTPTransport, transport_from_url

from ..support.scripted_smtp import ScriptedServer, greet
from ..support.smtpd import SMTPSink


def invite(n: int = 1, to: str = "bob@example.org") -> Outgoing:
    return compose(
        sender="Анна через SpotCam <hello@spotcam.example>",
        to=to,
        subject=f"Анна пригласила вас #{n}",
        text=f"Привет! Приглашение {n}: https://spotcam.example/i/{n}",
        html=f"<p>Привет! <a href='https://spotcam.example/i/{n}'>Приглашение {n}</a></p>",
        message_id_domain="spotcam.example",
        unsubscribe_url=f"https://spotcam.example/u/{n}",
    )


def transport(sink: SMTPSink, timeout: float = 5.0) -> SMTPTransport:
    return SMTPTransport(sink.host, sink.port, timeout=timeout)


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
def smtp_sink(request: pytest.FixtureRequest) -> Iterator[SMTPSink]:
    """Every transport test against a server that offers PIPELINING and one that doesn't."""
    sink = SMTPSink(pipelining=request.param).start()
    yield sink
    sink.stop()


def test_the_envelope_is_one_write_where_the_server_offers_pipelining() -> None:
    # A server that answers MAIL only once RCPT has arrived too: a client that waited for
    # the MAIL reply before sending RCPT would never get one (and time out).
    seen: list[bytes] = []

    def script(conn: socket.socket, lines: BinaryIO) -> None:
        greet(conn, lines)
        envelope = [lines.readline(), lines.readline()]  # both, before any reply
        seen.extend(envelope)
        conn.sendall(b"250 2.1.0 sender ok\r\n550 5.1.1 no such user\r\n")
        seen.append(lines.readline())  # what the client does about the refusal
        conn.sendall(b"250 2.0.0 reset\r\n")
        seen.append(lines.readline())
        conn.sendall(b"221 bye\r\n")

    with (
        ScriptedServer(script) as server,
        SMTPTransport("127.0.0.1", server.port, timeout=5) as smtp,
        pytest.raises(PermanentError),
    ):
        smtp.send(invite(1, to="gone@example.org"))
    assert seen[:2] == [b"MAIL FROM:<hello@spotcam.example>\r\n", b"RCPT TO:<gone@example.org>\r\n"]
    assert seen[2].upper() == b"RSET\r\n"  # the refusal read in step with its command, then a reset


def test_a_refused_sender_fails_the_message_and_keeps_the_session_in_step(
    smtp_sink: SMTPSink,
) -> None:
    # Pipelined, the RCPT after a refused MAIL is refused too (503): both replies are read,
    # so the next message on the same session gets its own replies, not these.
    smtp_sink.fail_next(451, "4.3.0 try again later", on="MAIL")
    with transport(smtp_sink) as smtp:
        with pytest.raises(TransientError, match="451"):
            smtp.send(invite(1, to="first@example.org"))
        smtp.send(invite(2, to="second@example.org"))
    [got] = smtp_sink.wait_for(1)
    assert got.rcpt_tos == ["second@example.org"] and smtp_sink.connections == 1


def test_three_messages_share_one_connection(smtp_sink: SMTPSink) -> None:
    with transport(smtp_sink) as smtp:
        for n in (1, 2, 3):
            smtp.send(invite(n, to=f"friend{n}@example.org"))

    got = smtp_sink.wait_for(3)
    assert smtp_sink.connections == 1
    assert [m.rcpt_tos for m in got] == [[f"friend{n}@example.org"] for n in (1, 2, 3)]
    assert {m.mail_from for m in got} == {"hello@spotcam.example"}
    first = got[0]
    assert first.message["Subject"] == "Анна пригласила вас #1"
    assert first.message["List-Unsubscribe"] == "<https://spotcam.example/u/1>"
    assert first.text is not None and "Приглашение 1: https://spotcam.example/i/1" in first.text
    assert first.html is not None and "https://spotcam.example/i/1" in first.html


def test_451_is_transient_and_the_session_is_reused(smtp_sink: SMTPSink) -> None:
    smtp_sink.fail_next(451, "Try again later")

    with transport(smtp_sink) as smtp:
        with pytest.raises(TransientError) as info:
            smtp.send(invite(1))
        smtp.send(invite(2))

    assert info.value.code == 451
    assert "451" in str(info.value) and "Try again later" in str(info.value)
    got = smtp_sink.wait_for(1)
    assert [m.message["Subject"] for m in got] == ["Анна пригласила вас #2"]
    assert smtp_sink.connections == 1


def test_550_on_data_is_permanent(smtp_sink: SMTPSink) -> None:
    smtp_sink.fail_next(550, "Message rejected as spam")

    with transport(smtp_sink) as smtp, pytest.raises(PermanentError) as info:
        smtp.send(invite())

    assert info.value.code == 550
    assert "Message rejected as spam" in str(info.value)
    assert smtp_sink.messages == []


def test_refused_recipient_is_permanent_and_session_survives(smtp_sink: SMTPSink) -> None:
    smtp_sink.fail_next(550, "5.1.1 No such user", on="RCPT")

    with transport(smtp_sink) as smtp:
        with pytest.raises(PermanentError) as info:
            smtp.send(invite(1, to="nobody@example.org"))
        smtp.send(invite(2))

    assert info.value.code == 550 and "No such user" in str(info.value)
    assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [["bob@example.org"]]
    assert smtp_sink.connections == 1


def test_greylisted_recipient_is_transient(smtp_sink: SMTPSink) -> None:
    smtp_sink.fail_next(450, "4.2.0 Greylisted", on="RCPT")

    with transport(smtp_sink) as smtp, pytest.raises(TransientError) as info:
        smtp.send(invite())

    assert info.value.code == 450


def test_stopped_server_is_transient(smtp_sink: SMTPSink) -> None:
    with transport(smtp_sink) as smtp:
        smtp.send(invite(1))
        smtp_sink.stop()
        with pytest.raises(TransientError):
            smtp.send(invite(2))


def test_nothing_listening_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port once the socket above is closed.
    with SMTPTransport("127.0.0.1", port, timeout=2) as smtp, pytest.raises(TransientError):
        smtp.send(invite())


def test_silent_server_times_out_as_transient() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        # The kernel completes the handshake but nobody ever sends a greeting.
        smtp = SMTPTransport("127.0.0.1", port, timeout=0.3)
        with pytest.raises(TransientError):
            smtp.send(invite())
        smtp.close()


def test_reconnects_once_when_the_server_dropped_the_session(smtp_sink: SMTPSink) -> None:
    with transport(smtp_sink) as smtp:
        smtp.send(invite(1))
        # A restart drops the idle session, as a server's idle timeout would.
        smtp_sink.stop()
        smtp_sink.start()
        smtp.send(invite(2))

    assert [m.message["Subject"] for m in smtp_sink.wait_for(2)][-1] == "Анна пригласила вас #2"
    assert smtp_sink.connections == 1


def test_a_server_that_stores_and_hangs_up_leaves_one_copy_and_an_unknown_outcome(
    smtp_sink: SMTPSink,
) -> None:
    smtp_sink.store_then_drop()

    with transport(smtp_sink) as smtp:
        with pytest.raises(UnknownOutcome):
            smtp.send(invite(1))
        # The session is gone; the next message goes on a new one.
        smtp.send(invite(2))

    got = smtp_sink.wait_for(2)
    subjects = [m.message["Subject"] for m in got]
    assert subjects == ["Анна пригласила вас #1", "Анна пригласила вас #2"]
    assert smtp_sink.connections == 2


def test_a_reply_later_than_the_timeout_is_an_unknown_outcome_not_a_resend(
    smtp_sink: SMTPSink,
) -> None:
    smtp_sink.store_then_reply_late(1.5)

    with transport(smtp_sink, timeout=0.5) as smtp, pytest.raises(UnknownOutcome) as info:
        smtp.send(invite(1))

    assert "may have been delivered" in str(info.value)
    assert len(smtp_sink.wait_for(1)) == 1
    assert smtp_sink.connections == 1  # smtplib's "disconnected" was not taken for a stale session


def test_refusals_before_the_data_are_not_unknown(smtp_sink: SMTPSink) -> None:
    smtp_sink.fail_next(554, "5.3.4 Message too big for system")

    with transport(smtp_sink) as smtp, pytest.raises(PermanentError):
        smtp.send(invite())


def test_ready_runs_after_the_envelope_and_a_no_withdraws_the_message(
    smtp_sink: SMTPSink,
) -> None:
    asked: list[list[str]] = []

    def no() -> bool:
        asked.append(list(smtp_sink.accepted_rcpts))  # what the server had accepted by then
        return False

    with transport(smtp_sink) as smtp:
        assert smtp.send(invite(1, to="first@example.org"), ready=no) is False
        # The session was reset, not broken: the next message goes out on it.
        assert smtp.send(invite(2, to="second@example.org"), ready=lambda: True) is True

    assert asked == [["first@example.org"]]
    got = smtp_sink.wait_for(1)
    assert [m.rcpt_tos for m in got] == [["second@example.org"]]
    assert smtp_sink.connections == 1


def test_a_ready_that_raises_sends_nothing_and_its_error_comes_through(
    smtp_sink: SMTPSink,
) -> None:
    class LedgerDown(Exception):
        """The ledger write that `ready` waits for failed."""

    def broken() -> bool:
        raise LedgerDown("the write failed")

    with transport(smtp_sink) as smtp:
        with pytest.raises(LedgerDown):
            smtp.send(invite(1, to="first@example.org"), ready=broken)
        smtp.send(invite(2, to="second@example.org"))

    assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [["second@example.org"]]
    assert smtp_sink.accepted_rcpts == ["first@example.org", "second@example.org"]


def test_meanwhile_runs_once_the_content_is_handed_over_and_before_the_reply(
    smtp_sink: SMTPSink,
) -> None:
    smtp_sink.store_then_reply_late(0.3)
    seen: list[int] = []

    def meanwhile() -> None:
        # The server has the whole message (stored) but has not answered it yet.
        smtp_sink.wait_for(1)
        seen.append(len(smtp_sink.messages))

    with transport(smtp_sink) as smtp:
        assert smtp.send(invite(), meanwhile=meanwhile) is True
    assert seen == [1]


def test_no_envelope_address_can_carry_a_second_command(smtp_sink: SMTPSink) -> None:
    message, evil = invite(), "a@example.org>\r\nRSET\r\nX:<b"
    for forged in (
        dataclasses.replace(message, sender=evil),
        dataclasses.replace(message, recipient=evil),
    ):
        with transport(smtp_sink) as smtp, pytest.raises(ValueError, match="envelope"):
            smtp.send(forged)
    assert smtp_sink.accepted_rcpts == []


def test_error_texts_never_carry_an_address(smtp_sink: SMTPSink) -> None:
    smtp_sink.fail_next(550, "5.1.1 <nobody@example.org>: Recipient address rejected", on="RCPT")

    with transport(smtp_sink) as smtp, pytest.raises(PermanentError) as info:
        smtp.send(invite(1, to="nobody@example.org"))

    assert "nobody" not in str(info.value) and "example.org" not in str(info.value)
    assert "Recipient address rejected" in str(info.value)


def test_an_error_text_leads_with_its_code() -> None:
    assert str(PermanentError("User unknown", 550)) == "550 User unknown"
    assert str(TransientError("timed out")) == "timed out"
    assert TransientError("timed out").code is None


def test_outbox_writes_lists_and_reads(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    with OutboxTransport(outbox) as box:
        box.send(invite(1))
        box.send(invite(2, to="carol@example.org"))

    files = sorted(p.name for p in outbox.iterdir())
    assert len(files) == 2 and all(f.endswith(".eml") for f in files)
    entries = list_outbox(outbox)
    assert [e.subject for e in entries] == ["Анна пригласила вас #2", "Анна пригласила вас #1"]
    assert entries[0].to == "carol@example.org"
    assert entries[0].sender == "Анна через SpotCam <hello@spotcam.example>"
    assert entries[0].date.tzinfo is not None
    assert list_outbox(outbox, limit=1) == entries[:1]

    message = read_outbox(outbox, entries[0].id)
    assert message is not None
    assert message.entry == entries[0]
    assert message.text is not None and "Приглашение 2" in message.text
    assert message.html is not None and "Приглашение 2" in message.html
    assert ("List-Unsubscribe", "<https://spotcam.example/u/2>") in message.headers
    assert message.raw == (outbox / f"{entries[0].id}.eml").read_bytes()


def test_outbox_listing_of_missing_directory_is_empty(tmp_path: Path) -> None:
    assert list_outbox(tmp_path / "missing") == []
    assert read_outbox(tmp_path / "missing", "anything") is None


@pytest.mark.parametrize(
    "entry_id", ["../secret", "..", "sub/secret", "/etc/passwd", "", "secret\x00", "link", "nope"]
)
def test_outbox_read_refuses_unknown_ids_and_traversal(tmp_path: Path, entry_id: str) -> None:
    outbox = tmp_path / "outbox"
    OutboxTransport(outbox).send(invite())
    (tmp_path / "secret.eml").write_bytes(b"Subject: secret\r\n\r\nsecret\r\n")
    (outbox / "sub").mkdir()
    (outbox / "sub" / "secret.eml").write_bytes(b"Subject: secret\r\n\r\nsecret\r\n")
    os.symlink(tmp_path / "secret.eml", outbox / "link.eml")

    assert read_outbox(outbox, entry_id) is None


def test_transport_from_url_without_url_uses_the_outbox(tmp_path: Path) -> None:
    for url in (None, ""):
        box = transport_from_url(url, tmp_path)
        assert isinstance(box, OutboxTransport) and box.directory == tmp_path


def test_transport_from_url_parses_smtp() -> None:
    smtp = transport_from_url(
        "smtp://user%40spotcam.example:p%3As%2Fs@mail.example:2525?starttls=true",
        "unused",
        timeout=7.5,
    )

    assert isinstance(smtp, SMTPTransport)
    assert (smtp.host, smtp.port, smtp.username) == ("mail.example", 2525, "user@spotcam.example")
    assert smtp._password == "p:s/s"
    assert smtp.starttls and not smtp.implicit_tls and smtp.timeout == 7.5
    assert "p:s/s" not in repr(smtp)


def test_transport_from_url_defaults() -> None:
    plain = transport_from_url("smtp://mail.example", "unused")
    tls = transport_from_url("smtps://u:p@mail.example", "unused")

    assert isinstance(plain, SMTPTransport) and isinstance(tls, SMTPTransport)
    assert (plain.port, plain.starttls, plain.implicit_tls, plain.username) == (
        25,
        False,
        False,
        None,
    )
    assert (tls.port, tls.implicit_tls) == (465, True)


@pytest.mark.parametrize(
    "url",
    [
        "http://u:hunter2@mail.example",
        "mailgun://u:hunter2@key",
        "smtp://u:hunter2@",
        "smtp://u:hunter2@mail.example:notaport",
        "smtp://u:hunter2@mail.example?starttls=maybe",
        "smtp://u:hunter2@mail.example?tls=true",
        "smtps://u:hunter2@mail.example?starttls=true",
    ],
)
def test_transport_from_url_rejects_bad_urls_without_leaking_password(url: str) -> None:
    with pytest.raises(ValueError) as info:
        transport_from_url(url, "unused")

    assert "hunter2" not in str(info.value)


def test_transport_from_url_sends_to_the_sink(smtp_sink: SMTPSink, tmp_path: Path) -> None:
    with transport_from_url(smtp_sink.url, tmp_path) as smtp:
        smtp.send(invite())

    assert smtp_sink.wait_for(1)[0].rcpt_tos == ["bob@example.org"]


def test_lines_that_start_with_a_dot_arrive_whole(smtp_sink: SMTPSink) -> None:
    # A line of one "." would end the message early (and what follows would be read as
    # commands) unless the transport doubles it; the receiver undoes the doubling.
    text = ".\n.hidden\nmid . line\n..two\n.\nQUIT\n"
    message = compose(
        sender="hello@spotcam.example",
        to="bob@example.org",
        subject="Dots",
        text=text,
        html="<p>dots</p>",
        message_id_domain="spotcam.example",
    )
    assert message.data.count(b"\r\n.\r\n") == 2  # the composer leaves them as written

    with transport(smtp_sink) as smtp:
        smtp.send(message)
        smtp.send(invite(2, to="after@example.org"))

    first, second = smtp_sink.wait_for(2)
    assert first.text is not None
    assert first.text.replace("\r\n", "\n").rstrip("\n") == text.rstrip("\n")
    assert second.rcpt_tos == ["after@example.org"]
    assert smtp_sink.connections == 1
