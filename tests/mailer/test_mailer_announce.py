"""The next message's envelope written behind the current content (RFC 2920), and every way
it can end: sent, withdrawn, refused, or lost with its session — never delivered twice,
never delivered without its own `send`."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import BinaryIO

import pytest

from mailer.compose import Outgoing, compose
from mailer.errors import PermanentError, UnknownOutcome
from mailer.transport import SMTPTransport

from ..support.scripted_smtp import ScriptedServer, content, greet
from ..support.smtpd import SMTPSink


def message(n: int) -> Outgoing:
    return compose(
        sender="SpotCam <news@spotcam.example>",
        to=f"person{n}@example.org",
        subject=f"Winter filters #{n}",
        text=f"Frost, Lantern and Ember #{n}",
        html=f"<p>Frost, Lantern and Ember #{n}</p>",
        message_id_domain="spotcam.example",
    )


def then(
    value: Outgoing | None, also: Callable[[], object] = lambda: None
) -> Callable[[], Outgoing | None]:
    """A `meanwhile` that does `also` and hands the transport the next message."""

    def meanwhile() -> Outgoing | None:
        also()
        return value

    return meanwhile


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
def sink(request: pytest.FixtureRequest) -> Iterator[SMTPSink]:
    """A server that offers PIPELINING (the next envelope is announced) and one that doesn't
    (the same calls send it the usual way)."""
    server = SMTPSink(pipelining=request.param).start()
    yield server
    server.stop()


def recipients(sink: SMTPSink) -> list[str]:
    return [rcpt for m in sink.messages for rcpt in m.rcpt_tos]


def test_a_chain_of_announced_messages_arrives_once_each_on_one_session(sink: SMTPSink) -> None:
    chain = [message(n) for n in range(1, 6)]
    with SMTPTransport(sink.host, sink.port, timeout=5) as smtp:
        for current, following in zip(chain, [*chain[1:], None], strict=True):
            assert smtp.send(current, ready=lambda: True, meanwhile=then(following)) is True
    sink.wait_for(5)
    assert recipients(sink) == [f"person{n}@example.org" for n in range(1, 6)]
    assert sink.connections == 1
    assert [m.message["Subject"] for m in sink.messages] == [
        f"Winter filters #{n}" for n in range(1, 6)
    ]


def test_the_next_envelope_leaves_before_the_reply_to_the_content_is_read() -> None:
    # A server that answers the final dot only once MAIL, RCPT and DATA of the next message
    # have arrived: a client that waited for that reply before writing them would time out.
    seen: list[bytes] = []

    def script(conn: socket.socket, lines: BinaryIO) -> None:
        greet(conn, lines)
        seen.extend([lines.readline(), lines.readline()])  # MAIL, RCPT of the first
        conn.sendall(b"250 ok\r\n250 ok\r\n")
        seen.append(lines.readline())  # DATA
        conn.sendall(b"354 go on\r\n")
        content(lines)
        seen.extend([lines.readline(), lines.readline(), lines.readline()])
        conn.sendall(b"250 first queued\r\n250 ok\r\n250 ok\r\n354 go on\r\n")
        content(lines)
        conn.sendall(b"250 second queued\r\n")
        seen.append(lines.readline())  # QUIT
        conn.sendall(b"221 bye\r\n")

    second = message(2)
    with (
        ScriptedServer(script) as server,
        SMTPTransport("127.0.0.1", server.port, timeout=5) as smtp,
    ):
        assert smtp.send(message(1), meanwhile=then(second)) is True
        assert smtp.send(second) is True
    assert seen == [
        b"MAIL FROM:<news@spotcam.example>\r\n",
        b"RCPT TO:<person1@example.org>\r\n",
        b"DATA\r\n",
        b"MAIL FROM:<news@spotcam.example>\r\n",
        b"RCPT TO:<person2@example.org>\r\n",
        b"DATA\r\n",
        b"quit\r\n",  # as smtplib writes it
    ]


def test_a_withdrawn_message_is_never_delivered(sink: SMTPSink) -> None:
    with SMTPTransport(sink.host, sink.port, timeout=5) as smtp:
        smtp.send(message(1), meanwhile=then(message(2)))
        smtp.withdraw()  # a pause came: message 2 is not sent
        smtp.send(message(3))
    sink.wait_for(2)
    assert recipients(sink) == ["person1@example.org", "person3@example.org"]
    # Announced, message 2 was in DATA: closing the session is the one way out of it.
    assert sink.connections == (2 if sink.pipelining else 1)


def test_sending_another_message_than_the_one_announced_drops_the_announced_one(
    sink: SMTPSink,
) -> None:
    with SMTPTransport(sink.host, sink.port, timeout=5) as smtp:
        smtp.send(message(1), meanwhile=then(message(2)))
        smtp.send(message(2))  # an equal message, but not the one announced: built again
        smtp.send(message(3), meanwhile=then(message(4)))
    # Closing ends an announced message too.
    sink.wait_for(3)
    assert recipients(sink) == [f"person{n}@example.org" for n in (1, 2, 3)]


def test_a_no_from_ready_withdraws_an_announced_message(sink: SMTPSink) -> None:
    second = message(2)
    with SMTPTransport(sink.host, sink.port, timeout=5) as smtp:
        smtp.send(message(1), meanwhile=then(second))
        assert smtp.send(second, ready=lambda: False) is False
        smtp.send(message(3))
    sink.wait_for(2)
    assert recipients(sink) == ["person1@example.org", "person3@example.org"]


def test_an_announced_recipient_refused_fails_that_message_only(sink: SMTPSink) -> None:
    second = message(2)
    refuse = lambda: sink.fail_next(550, "5.1.1 no such user", on="RCPT")  # noqa: E731
    with SMTPTransport(sink.host, sink.port, timeout=5) as smtp:
        assert smtp.send(message(1), meanwhile=then(second, refuse)) is True
        with pytest.raises(PermanentError, match="no such user"):
            smtp.send(second)
        assert smtp.send(message(3)) is True  # the session is in step for the next one
    sink.wait_for(2)
    assert recipients(sink) == ["person1@example.org", "person3@example.org"]
    assert sink.connections == 1


def test_a_refused_content_leaves_the_announced_message_to_its_own_send(sink: SMTPSink) -> None:
    second = message(2)
    sink.fail_next(554, "5.7.1 content refused")  # the reply to message 1's final dot
    with SMTPTransport(sink.host, sink.port, timeout=5) as smtp:
        with pytest.raises(PermanentError, match="content refused"):
            smtp.send(message(1), meanwhile=then(second))
        assert smtp.send(second) is True
    sink.wait_for(1)
    assert recipients(sink) == ["person2@example.org"]


def test_a_session_lost_after_the_content_makes_it_unknown_and_the_next_goes_once(
    sink: SMTPSink,
) -> None:
    second = message(2)
    sink.store_then_drop()
    with SMTPTransport(sink.host, sink.port, timeout=5) as smtp:
        with pytest.raises(UnknownOutcome):
            smtp.send(message(1), meanwhile=then(second))
        assert smtp.send(second) is True
    sink.wait_for(2)
    # Message 1 was stored before the server hung up; message 2 came once, on a new session.
    assert recipients(sink) == ["person1@example.org", "person2@example.org"]
    assert sink.connections == 2


def test_a_server_that_says_354_after_refusing_the_recipient_gets_no_content() -> None:
    # Broken, but seen: the next envelope refused at RCPT, and DATA accepted anyway. An RSET
    # now would be taken as content; the client must close instead.
    after: list[bytes] = []

    def script(conn: socket.socket, lines: BinaryIO) -> None:
        greet(conn, lines)
        lines.readline(), lines.readline()
        conn.sendall(b"250 ok\r\n250 ok\r\n")
        lines.readline()
        conn.sendall(b"354 go on\r\n")
        content(lines)
        lines.readline(), lines.readline(), lines.readline()
        conn.sendall(b"250 first queued\r\n250 ok\r\n550 5.1.1 no such user\r\n354 go on\r\n")
        while line := lines.readline():  # everything until the client hangs up
            after.append(line)

    second = message(2)
    with (
        ScriptedServer(script) as server,
        SMTPTransport("127.0.0.1", server.port, timeout=5) as smtp,
    ):
        assert smtp.send(message(1), meanwhile=then(second)) is True
        with pytest.raises(PermanentError, match="no such user"):
            smtp.send(second)
    assert server.finished
    assert after == []  # no RSET, no QUIT, no content: the session was closed
