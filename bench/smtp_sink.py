"""A counting SMTP sink for the benchmarks: aiosmtpd in its own process, on one port.

    .venv/bin/python bench/smtp_sink.py PORT OUT.json

Accepts every message, records (recipient, arrival time) in memory, and writes them as JSON to
OUT.json on SIGUSR1 (a snapshot) and on SIGTERM (then exits). On SIGUSR2 it writes only how
many have arrived, to OUT.count: a driver that watches progress asks for that, because writing
the whole record takes the sink longer the more it holds, and the sink is what is measured.
It runs apart from the worker it measures so their CPU doesn't mix.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

received: list[tuple[str, float]] = []


class Handler:
    """Take every message; remember who it was for and when it came."""

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """Offer PIPELINING, as Postfix, Exim and the hosted relays do (aiosmtpd reads
        commands in order from its stream, so it takes pipelined ones as they come)."""
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        now = time.time()
        for rcpt in envelope.rcpt_tos:
            received.append((rcpt, now))
        return "250 OK"


def dump(path: Path) -> None:
    """Write what arrived so far."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(received))
    tmp.replace(path)


def count(path: Path) -> None:
    """Write how many have arrived so far."""
    tmp = path.with_suffix(".counting")
    tmp.write_text(str(len(received)))
    tmp.replace(path)


def main() -> None:
    """Serve until SIGTERM."""
    port, out = int(sys.argv[1]), Path(sys.argv[2])
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    signal.signal(signal.SIGUSR1, lambda *_: dump(out))
    signal.signal(signal.SIGUSR2, lambda *_: count(out.with_suffix(".count")))
    signal.signal(signal.SIGTERM, lambda *_: loop.call_soon_threadsafe(stop.set))
    print("ready", flush=True)
    loop.run_until_complete(stop.wait())
    controller.stop()
    dump(out)


if __name__ == "__main__":
    main()
