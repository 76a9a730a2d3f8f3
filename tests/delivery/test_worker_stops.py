"""A worker stops at once when told (RQ 3 with redis-py 8.2), and not before: a failed job
leaves it running."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest
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


def test_a_failed_job_does_not_end_an_in_process_worker(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    # RQ logs a failure with extra={"job_id": ...}, a field every record here carries already;
    # logging's KeyError ("Attempt to overwrite 'job_id'") escaped RQ's failure handling and
    # ended the worker at its first failed job, leaving the rest of the queue to nobody.
    with app.app_context():
        q = queue.queue(queue.CAMPAIGN_QUEUE)
        failing = q.enqueue("invites.core.db.utcnow", "an argument it does not take")
        after = q.enqueue("invites.core.db.utcnow")
        with caplog.at_level(logging.ERROR, logger="rq.worker"):
            make_worker([queue.CAMPAIGN_QUEUE], simple=True).work(burst=True)
        assert failing.get_status(refresh=True) == "failed"
        assert after.get_status(refresh=True) == "finished"
        assert len(q) == 0
    logged = [r.getMessage() for r in caplog.records if "exception raised" in r.getMessage()]
    assert len(logged) == 1 and failing.id in logged[0]  # the line names the job it was about


def test_a_scheduler_stopped_as_it_says_it_started_stops_cleanly(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its "scheduler started" line came before its SIGTERM handler: a supervisor (or CI's
    # test of the printed commands) that stopped it on that line killed it, exit status -15.
    from invites.delivery import worker

    announced = []

    def info(message: str, *args: object) -> None:
        if message.startswith("scheduler started"):
            announced.append(message)
            os.kill(os.getpid(), signal.SIGTERM)  # the stop comes the moment it says it started

    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(worker.log, "info", info)
    try:
        with app.app_context():
            worker.run_scheduler()  # returns: the signal was handled as a stop request
    finally:
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])
    assert announced
    assert not [t for t in threading.enumerate() if t.name == "outbox-relay"]
