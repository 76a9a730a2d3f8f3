"""A one-connection SMTP server on a raw socket whose every byte a test writes out: for what
aiosmtpd won't do (hold a reply until later commands arrive, say 354 after a refusal)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import BinaryIO, Self

#: The test's script: it talks to the one client over the socket and its lines.
Script = Callable[[socket.socket, BinaryIO], None]


class ScriptedServer:
    """Serve one connection with `script` in a thread; `port` is where to connect."""

    def __init__(self, script: Script) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._script = script
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with conn, conn.makefile("rb") as lines:
            self._script(conn, lines)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._thread.join(timeout=10)
        self._listener.close()

    @property
    def finished(self) -> bool:
        """Whether the script ran to its end (the client hung up, or it said all it had)."""
        return not self._thread.is_alive()


def greet(conn: socket.socket, lines: BinaryIO) -> None:
    """The greeting, the client's EHLO and an answer that offers PIPELINING."""
    conn.sendall(b"220 test ESMTP\r\n")
    lines.readline()  # EHLO
    conn.sendall(b"250-test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")


def content(lines: BinaryIO) -> list[bytes]:
    """Read one message's content up to and including its final dot."""
    read = [lines.readline()]
    while read[-1] not in (b".\r\n", b""):
        read.append(lines.readline())
    return read
