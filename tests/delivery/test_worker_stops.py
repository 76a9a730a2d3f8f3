"""A worker stops at once: its command thread never holds up an exit (RQ 3 with redis-py 8.2)."""

from __future__ import annotations

import time

from flask import Flask
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from invites.core import queue
from invites.delivery.worker import ResilientCron, make_worker


def test_burst_runs_end_without_waiting_for_the_command_thread(app: Flask) -> None:
    # Unfixed, about one exit in three waited 60 s for the thread that listens for RQ's
    # commands (it had read its unsubscribe reply before being told to stop). Twenty runs
    # find that wait almost surely; each run here is a few milliseconds of work.
    slowest = 0.0
    with app.app_context():
        for _ in range(20):
            worker = make_worker(["mail", "campaigns"], simple=True)
            started = time.monotonic()
            worker.work(burst=True)
            slowest = max(slowest, time.monotonic() - started)
            thread = worker.pubsub_thread
            assert thread is not None and not thread.is_alive()
    assert slowest < 20, f"a burst run took {slowest:.1f} s to exit"


class _StoppedAtStartUp(ResilientCron):
    """A scheduler whose stop request (SIGINT/SIGTERM) comes before it has registered."""

    def register_birth(self) -> None:
        raise StopRequested()


def test_a_scheduler_stopped_before_it_registered_stops_cleanly(app: Flask) -> None:
    # It used to try to unregister an entry it never made, and RQ's SchedulerNotFound ended
    # the process with a traceback and exit status 1 (seen when stopped right after start).
    with app.app_context():
        cron = _StoppedAtStartUp(connection=queue.connection(), logging_level="INFO")
        cron._install_signal_handlers = lambda: None  # type: ignore[method-assign]
        cron.start()  # returns: no exception
        assert cron.name not in [s.name for s in CronScheduler.all(queue.connection())]
