"""Waiting on a condition, never on the clock: the one poll-until helper of the suite."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Long enough for a machine that other test runs and benchmarks keep busy. A test waits this
#: long only when what it waits for never happens, which fails it anyway.
PATIENCE = 60.0


def until(
    condition: Callable[[], T], what: str, seconds: float = PATIENCE, every: float = 0.02
) -> T:
    """Call `condition` until it returns something truthy, and return that; fail after `seconds`.

    `what` names the awaited state for the failure message ("the worker to record the outcome").
    The pause between calls grows from `every` to a quarter of a second, so a quick condition
    is seen at once and a slow one costs little CPU.
    """
    deadline = time.monotonic() + seconds
    pause = every
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {seconds:.0f} s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 1.5, 0.25)
