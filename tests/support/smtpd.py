"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 that records mail and fails on request."""

from __future__ import annotations

import asyncio
import email.policy
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the server received it: envelope and raw bytes, parsed on demand."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    #: When the server stored it (before it answers 250).
    received_at: float = field(default_factory=time.time, compare=False)
    message: EmailMessage = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parsed = BytesParser(policy=email.policy.default).parsebytes(self.raw)
        object.__setattr__(self, "message", parsed)

    def _part(self, subtype: str) -> str | None:
        part = self.message.get_body(preferencelist=(subtype,))
        return None if part is None else str(part.get_content())

    @property
    def text(self) -> str | None:
        """The decoded text/plain body."""
        return self._part("plain")

    @property
    def html(self) -> str | None:
        """The decoded text/html body."""
        return self._part("html")


class _Handler:
    """aiosmtpd handler: replies from the sink's failure queue, else accepts."""

    def __init__(self, sink: SMTPSink) -> None:
        self.sink = sink

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Offer PIPELINING (RFC 2920) unless told not to, as Postfix and the hosted relays
        do; aiosmtpd reads commands in order from its stream, so pipelined ones just work."""
        session.host_name = hostname
        if not self.sink.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        failure = self.sink._take_failure("MAIL")
        if failure:
            return failure
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        failure = self.sink._take_failure("RCPT")
        if failure:
            return failure
        envelope.rcpt_tos.append(address)
        with self.sink._lock:
            self.sink.accepted_rcpts.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        failure = self.sink._take_failure("DATA")
        if failure:
            return failure
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode("utf-8")
        self.sink._record(ReceivedMessage(str(envelope.mail_from), list(envelope.rcpt_tos), raw))
        misbehaviour = self.sink._take_misbehaviour()
        if misbehaviour is not None:
            mode, seconds, hook = misbehaviour
            if hook is not None:
                await asyncio.get_running_loop().run_in_executor(None, hook)
            if mode == "drop":
                # Stored, and gone without a word: the reply never leaves.
                assert server.transport is not None  # set while a session is open
                server.transport.close()
            elif mode == "late":
                await asyncio.sleep(seconds)
        return "250 Message accepted"


class _CountingController(Controller):
    """A Controller that counts SMTP sessions (factory() runs once per connection)."""

    def __init__(self, sink: SMTPSink, **kwargs: Any) -> None:
        super().__init__(_Handler(sink), **kwargs)
        self._sink = sink

    def factory(self) -> SMTP:
        self._sink._count_connection()
        return super().factory()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class SMTPSink:
    """A local SMTP server that records every accepted message."""

    def __init__(self, *, pipelining: bool = True) -> None:
        self.host = HOST
        #: Whether EHLO offers PIPELINING (the transport then sends MAIL and RCPT together).
        self.pipelining = pipelining
        self.port = _free_port()
        self.messages: list[ReceivedMessage] = []
        #: Every recipient the server accepted at RCPT, whether or not a message followed.
        self.accepted_rcpts: list[str] = []
        self.connections = 0
        self._lock = threading.Condition()
        self._failures: deque[tuple[str, str]] = deque()
        self._misbehaviour: deque[tuple[str, float, Callable[[], object] | None]] = deque()
        self._controller: _CountingController | None = None

    @property
    def url(self) -> str:
        """The smtp:// URL that transport_from_url() understands."""
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> SMTPSink:
        """Start serving in a background thread."""
        self._controller = _CountingController(
            self, hostname=self.host, port=self.port, ready_timeout=5.0
        )
        self._controller.start()
        with self._lock:
            # start() opens one probe connection of its own; it isn't a client session.
            self.connections = 0
        return self

    def stop(self) -> None:
        """Stop serving; later connections are refused."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def fail_next(self, code: int, text: str, times: int = 1, *, on: str = "DATA") -> None:
        """Answer the next `times` DATA (or MAIL or RCPT, with `on`) commands with `code text`."""
        if on not in ("MAIL", "RCPT", "DATA"):
            raise ValueError("on must be 'MAIL', 'RCPT' or 'DATA'")
        with self._lock:
            self._failures.extend([(on, f"{code} {text}")] * times)

    def store_then_drop(self, times: int = 1) -> None:
        """Store the next messages, then close the connection instead of replying to DATA."""
        with self._lock:
            self._misbehaviour.extend([("drop", 0.0, None)] * times)

    def store_then_reply_late(self, seconds: float, times: int = 1) -> None:
        """Store the next messages, and reply to DATA only after `seconds`."""
        with self._lock:
            self._misbehaviour.extend([("late", seconds, None)] * times)

    def store_then_run(self, hook: Callable[[], object], times: int = 1) -> None:
        """Store the next messages and run `hook` (in a thread) before replying 250."""
        with self._lock:
            self._misbehaviour.extend([("hook", 0.0, hook)] * times)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least `n` messages arrived; fail the test if they don't."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {n} messages, got {len(self.messages)}")
                self._lock.wait(left)
            return list(self.messages)

    def _take_failure(self, stage: str) -> str | None:
        with self._lock:
            if self._failures and self._failures[0][0] == stage:
                return self._failures.popleft()[1]
            return None

    def _take_misbehaviour(self) -> tuple[str, float, Callable[[], object] | None] | None:
        with self._lock:
            return self._misbehaviour.popleft() if self._misbehaviour else None

    def _record(self, message: ReceivedMessage) -> None:
        with self._lock:
            self.messages.append(message)
            self._lock.notify_all()

    def _count_connection(self) -> None:
        with self._lock:
            self.connections += 1
