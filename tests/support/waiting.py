"""Waiting on a condition, never on a fixed sleep: the machine is shared and may be slow."""

from __future__ import annotations

import time
from collections.abc import Callable


def until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Wait until `condition()` holds, checking ten times a second; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)
