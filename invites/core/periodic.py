"""The periodic jobs each area asks the scheduler to run: registered at start-up, read by it.

The scheduler belongs to the delivery engine, which imports no product area; each area names
its own jobs here instead (and none of them minds running twice: a second scheduler on
another machine is safe).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from invites.core.config import Settings

#: Seconds between runs: a number, or read from the settings.
Interval = int | Callable[[Settings], int]


@dataclass(frozen=True)
class Periodic:
    """One job the scheduler enqueues every `interval` seconds."""

    function: str
    queue: str
    interval: Interval

    def seconds(self, settings: Settings) -> int:
        """The interval under these settings."""
        return self.interval(settings) if callable(self.interval) else self.interval


_JOBS: dict[str, Periodic] = {}


def every(interval: Interval, function: str, queue: str) -> None:
    """Have `function` (a dotted path) enqueued on `queue` every `interval` seconds."""
    _JOBS[function] = Periodic(function, queue, interval)


def registered() -> list[Periodic]:
    """Every periodic job, in the order registered."""
    return list(_JOBS.values())
