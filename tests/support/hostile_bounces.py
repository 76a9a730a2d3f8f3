"""Pathological bounce reports of almost a megabyte each, and a deadline to parse them in."""

from __future__ import annotations

import functools
import math
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: Just under the 1 MiB that POST /api/v1/events accepts, so every shape reaches the parser.
SIZE = 1024 * 1024 - 4096

_PLAIN = b"From: MAILER-DAEMON@example.net\nSubject: Undelivered Mail\nContent-Type: text/plain\n\n"
_REPORT = (
    b"From: MAILER-DAEMON@example.net\nMIME-Version: 1.0\nContent-Type: multipart/report;"
    b" report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
)
_STATUS = _REPORT + b"--b\nContent-Type: message/delivery-status\n\n"


def _fill(head: bytes, unit: bytes) -> bytes:
    return head + unit * ((SIZE - len(head)) // len(unit))


#: Each names no usable recipient, so the API must refuse it (422) — quickly.
SHAPES: dict[str, bytes] = {
    "blank lines": _fill(_PLAIN, b" \n"),
    "blank lines in a report": _fill(_REPORT, b" \n"),
    "blank CRLF lines": _fill(_PLAIN, b" \r\n"),
    "tab lines": _fill(_PLAIN, b"\t\n"),
    "one run of dashes": _fill(_PLAIN, b"-"),
    "lines of dashes": _fill(_PLAIN, b"-\n"),
    "dash marker lines": _fill(_PLAIN, b" - \n"),
    "one run of spaces": _fill(_PLAIN, b" "),
    "runs of @": _fill(_PLAIN, b"@"),
    "runs of <": _fill(_PLAIN, b"<"),
    "a@a@a": _fill(_PLAIN, b"a@"),
    "a local part without a domain": _fill(_PLAIN, b"a"),
    "said: and blanks": _fill(_PLAIN, b"said:    "),
    "reply codes and blanks": _fill(_PLAIN, b"550 \n\n"),
    "nested multipart": _fill(
        b"Content-Type: multipart/mixed; boundary=a\n\n",
        b"--a\nContent-Type: multipart/mixed; boundary=a\n\n",
    ),
    "nested reports": _fill(
        b"Content-Type: multipart/report; boundary=a\n\n",
        b"--a\nContent-Type: multipart/report; boundary=a\n\n",
    ),
    "status blocks without an address": _fill(
        _STATUS, b"Final-Recipient: rfc822; @\nAction: failed\nStatus: 5.1.1\n\n"
    ),
    "one endless field": _fill(_STATUS + b"Final-Recipient: rfc822; x@\nDiagnostic-Code: ", b" "),
}


class DeadlineExceeded(AssertionError):
    """The code under test ran past its deadline."""


#: Milliseconds a fast host of this project's kind takes for `_loop_ms`'s loop (4.3–5).
_FAST_HOST_LOOP_MS = 5.0


@functools.cache
def _loop_ms() -> float:
    """Milliseconds this host takes for a fixed pure-Python loop, best of five (as the
    benchmarks' `python_loop_ms`)."""
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        total = 0
        for i in range(100_000):
            total += i * i % 7
        best = min(best, time.perf_counter() - start)
    return best * 1000


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail with DeadlineExceeded if the block uses more than seconds of this process's CPU,
    `seconds` being for a fast host: a slower one gets proportionally more."""
    # CPU time, not wall time: the machine is shared, and what is measured is the work the
    # parser does, which is what a hostile report can make it do. SIGPROF interrupts even a
    # runaway regex, since the regex engine checks for signals. Hosts of one kind differ by
    # up to three times in speed: a linear parse of a megabyte took 1.0 s of CPU on a slow
    # one, while a quadratic one would take hours on any.
    seconds *= max(1.0, _loop_ms() / _FAST_HOST_LOOP_MS)

    def expire(signum: int, frame: FrameType | None) -> None:
        raise DeadlineExceeded(f"still running after {seconds} s of CPU")

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    start = time.process_time()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    assert time.process_time() - start < seconds
