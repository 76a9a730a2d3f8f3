"""A worker stops at once: its command thread never holds up an exit (RQ 3 with redis-py 8.2)."""

from __future__ import annotations

import time

from flask import Flask

from invites.delivery.worker import make_worker


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
