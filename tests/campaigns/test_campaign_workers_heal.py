"""Campaign workers that heal: a database that dropped their connections, a Redis that went
away, a worker killed mid-batch. Real `invites worker --simple --queues campaigns` processes
and a real scheduler; the campaign must finish by itself, once to each contact.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from rq.registry import FailedJobRegistry

from invites.core import queue
from invites.core.db import db

from ..support.campaigns import expected, ledger, make_campaign, people, received, seed, send_now
from ..support.campaigns import status as campaign_status
from ..support.helpers import terminate_backends
from ..support.processes import Processes, running
from ..support.smtpd import SMTPSink
from ..support.wait import until


@pytest.fixture()
def processes(tmp_path: Path) -> Iterator[Processes]:
    """`invites` processes the test starts; stopped when it ends."""
    yield from running(tmp_path)


def _failed_jobs(app: Flask) -> int:
    with app.app_context():
        return len(FailedJobRegistry(queue.CAMPAIGN_QUEUE, connection=queue.connection()))


@pytest.mark.postgresql
def test_a_worker_idle_through_a_failover_sends_the_next_campaign(
    camp: Flask, smtp_sink: SMTPSink, processes: Processes
) -> None:
    # Before: every planner and batch job on the worker failed with PendingRollbackError
    # ("Can't reconnect until invalid transaction is rolled back") until it was restarted.
    audience = people(120)
    seed(camp, audience)
    wanted = expected(audience)
    worker = processes.start(camp.config["SETTINGS"], "worker", "--simple", "--queues", "campaigns")
    first = make_campaign(camp)
    send_now(camp, first)
    until(lambda: campaign_status(camp, first) == "done", "the first campaign to finish")
    until(lambda: len(smtp_sink.messages) == len(wanted), "the first campaign's last message")

    url = camp.config["SETTINGS"].database_url
    assert terminate_backends(url) >= 1  # the idle worker's pooled connections among them
    with camp.app_context():
        db.engine.dispose()  # this process's were cut too; the test's own are not under test
    time.sleep(1.5)  # idle a while, as a worker is between campaigns (and past its probe's 1 s)
    second = make_campaign(camp)
    sent_at = time.time()
    send_now(camp, second)
    try:
        until(lambda: campaign_status(camp, second) == "done", "the second campaign to finish")
    except AssertionError:
        print(worker.text()[-6000:])
        raise

    assert worker.alive()
    got = received(smtp_sink)
    assert set(got) == wanted and set(got.values()) == {2}, "each contact once per campaign"
    assert Counter(ledger(camp, second).values()) == {"sent": len(wanted)}
    assert _failed_jobs(camp) == 0, worker.text()[-3000:]
    assert "PendingRollbackError" not in worker.text()
    firsts = sorted(m.received_at for m in smtp_sink.messages)[len(wanted) :]
    print(f"first message {firsts[0] - sent_at:.3f} s after send, following the failover")
