"""Delivery under faults: real worker and scheduler processes, a misbehaving SMTP server, a
Redis the test stops, PostgreSQL connections the test terminates. At most one copy, nothing lost.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from rq.job import Job

from invites.core import queue
from invites.core.config import Settings
from invites.core.db import db
from invites.delivery.models import OutboundMessage, OutboxWakeup
from invites.invitations.models import Invitation, InvitationDailyStats

from ..support import spawn
from ..support.helpers import (
    OwnRedis,
    auth,
    env_for,
    invite,
    make_app,
    new_key,
    redis_server,
    terminate_backends,
    worker_process,
)
from ..support.smtpd import SMTPSink
from ..support.wait import until


def _rows(app: Flask) -> list[OutboundMessage]:
    with app.app_context():
        rows = db.session.scalars(db.select(OutboundMessage).order_by(OutboundMessage.id)).all()
        db.session.expunge_all()
        return list(rows)


def _invitation(app: Flask) -> Invitation:
    with app.app_context():
        inv = db.session.scalars(db.select(Invitation)).one()
        db.session.expunge(inv)
        return inv


def _counters(app: Flask) -> dict[str, int]:
    with app.app_context():
        rows = db.session.scalars(db.select(InvitationDailyStats)).all()
        return {
            name: sum(getattr(r, name) for r in rows) for name in ("sent", "unknown", "bounced")
        }


def _service_message(app: Flask, to: str = "svc@example.com") -> str:
    key = new_key(app, ["messages"])
    resp = app.test_client().post(
        "/api/v1/messages",
        json={
            "email": to,
            "template": "security_alert",
            "context": {"name": "Sam", "event": "new login", "when": "today"},
        },
        headers=auth(key),
    )
    assert resp.status_code == 202, resp.get_json()
    return str(resp.get_json()["id"])


def _work_twice(settings: Settings) -> None:
    """A burst worker, then the reconciler and another burst, as the scheduler would later."""
    for _ in range(2):
        done = worker_process(settings)
        assert done.returncode == 0, done.stderr
        app = make_app(settings)
        with app.app_context():
            from invites.delivery.jobs import reconcile_outbox

            reconcile_outbox()


@pytest.fixture()
def quick(settings: Settings, smtp_sink: SMTPSink) -> Settings:
    """Settings that deliver to the sink, with a short SMTP timeout."""
    return dataclasses.replace(settings, smtp_url=smtp_sink.url, smtp_timeout=1)


def _invite_one(settings: Settings) -> Flask:
    app = make_app(settings)
    key = new_key(app, ["invitations"])
    assert invite(app.test_client(), key, "friend@example.com").status_code == 202
    return app


@pytest.mark.parametrize("misbehave", ["hang up", "reply late"])
def test_an_invitation_whose_reply_is_lost_goes_once_and_is_unknown(
    app: Flask, quick: Settings, smtp_sink: SMTPSink, misbehave: str
) -> None:
    if misbehave == "hang up":
        smtp_sink.store_then_drop()
    else:
        smtp_sink.store_then_reply_late(quick.smtp_timeout + 1.5)
    app = _invite_one(quick)

    _work_twice(quick)

    assert len(smtp_sink.messages) == 1
    [row] = _rows(app)
    assert row.status == "unknown" and row.attempts == 1
    assert "may have been delivered" in (row.last_error or "")
    # The friend may hold the email: its links keep working until the window ends.
    inv = _invitation(app)
    with app.app_context():  # the address is sealed: opening it takes the app's keys
        assert inv.status == "sent" and inv.email == "friend@example.com"
    assert _counters(app) == {"sent": 0, "unknown": 1, "bounced": 0}


@pytest.mark.parametrize("misbehave", ["hang up", "reply late"])
def test_a_service_message_whose_reply_is_lost_goes_once_and_is_unknown(
    app: Flask, quick: Settings, smtp_sink: SMTPSink, misbehave: str
) -> None:
    if misbehave == "hang up":
        smtp_sink.store_then_drop()
    else:
        smtp_sink.store_then_reply_late(quick.smtp_timeout + 1.5)
    service = make_app(quick)
    public_id = _service_message(service)

    _work_twice(quick)

    assert len(smtp_sink.messages) == 1
    key = new_key(service, ["messages"])
    status = service.test_client().get(f"/api/v1/messages/{public_id}", headers=auth(key))
    assert status.get_json()["status"] == "unknown"
    [row] = _rows(service)
    assert row.to_email is None  # final: the bare address is gone


def _scheduler(settings: Settings, log: Path) -> spawn.Child:
    """A real `invites scheduler`, its log in a file the test can read while it runs."""
    with log.open("w") as out:
        return spawn.popen(
            ["scheduler"],
            env=env_for(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def test_the_scheduler_outlives_a_redis_outage_across_cron_ticks(
    app: Flask, settings: Settings, own_redis: OwnRedis, tmp_path: Path
) -> None:
    port, procs = own_redis
    own = dataclasses.replace(
        settings,
        redis_url=f"redis://127.0.0.1:{port}/0",
        reconcile_interval_seconds=1,
        relay_interval_ms=50,
        invites_per_inviter_day=100,
        invites_per_inviter_month=100,
    )
    client_app = make_app(own)
    key = new_key(client_app, ["invitations"])
    log = tmp_path / "scheduler.log"
    scheduler = _scheduler(own, log)
    try:
        with client_app.app_context():
            mail = queue.queue(queue.MAIL_QUEUE)
            until(lambda: mail.get_job_ids(), "the scheduler's first cron round")
        procs[0].terminate()
        procs[0].wait()
        client = client_app.test_client()
        for n in range(30):
            assert invite(client, key, f"friend{n}@example.com").status_code == 202
        # Both loops meet the outage: the cron loop (every second here) and the relay.
        until(lambda: "scheduler paused" in log.read_text(), "the cron loop to pause")
        until(lambda: "outbox relay paused" in log.read_text(), "the relay to pause")
        assert scheduler.poll() is None, "the scheduler died with Redis"
        procs.append(redis_server(port))  # back, and empty
        with client_app.app_context():

            def relayed() -> bool:
                db.session.rollback()
                left = db.session.scalars(db.select(OutboxWakeup.message_id)).all()
                return not left and len(mail.get_job_ids()) >= 30

            until(relayed, "the relay to enqueue every invitation")

            def names() -> list[str | None]:
                jobs = Job.fetch_many(
                    mail.get_job_ids(), connection=mail.connection, serializer=mail.serializer
                )
                return [j.func_name for j in jobs if j is not None]

            # The new Redis started empty, so a reconciler job in it came from a cron tick
            # after the outage: the cron loop is alive, not only the relay thread.
            until(lambda: "invites.delivery.jobs.reconcile_outbox" in names(), "a cron tick")
            assert names().count("invites.delivery.jobs.deliver_message") == 30
        assert scheduler.poll() is None
    finally:
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(timeout=30)
    output = log.read_text()
    assert scheduler.returncode == 0, output
    assert output.count("scheduler paused") == 1, output
    assert "scheduler resumed" in output


@pytest.mark.postgresql
def test_an_outcome_is_recorded_after_the_database_dropped_the_connection(
    app: Flask, quick: Settings, smtp_sink: SMTPSink
) -> None:
    # Between "250 accepted" and the worker's commit, every backend is terminated.
    assert quick.database_url is not None
    database_url = quick.database_url
    smtp_sink.store_then_run(lambda: terminate_backends(database_url))
    app = _invite_one(quick)

    done = worker_process(quick)

    assert done.returncode == 0, done.stderr
    assert len(smtp_sink.messages) == 1
    with app.app_context():
        db.engine.dispose()  # this process's pooled connections were terminated too
    [row] = _rows(app)
    assert row.status == "sent", (row.status, row.last_error, done.stderr[-2000:])
    inv = _invitation(app)
    assert inv.status == "sent"
    assert _counters(app) == {"sent": 1, "unknown": 0, "bounced": 0}
    assert "recorded on a new connection" in done.stderr
