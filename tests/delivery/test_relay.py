"""The outbox relay: wake-ups committed with outbox rows become RQ jobs, each exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from flask import Flask
from rq.job import Job
from sqlalchemy import insert

from invites.core import queue
from invites.core.db import db
from invites.delivery import relay
from invites.delivery.models import OutboundMessage, OutboxWakeup

from ..support import spawn
from ..support.helpers import env_for, invite, new_key


def _wakeups() -> list[int]:
    return list(db.session.scalars(db.select(OutboxWakeup.message_id).order_by("message_id")))


def _queued_messages() -> list[int]:
    """The message id of every delivery job waiting in the mail queue."""
    mail = queue.queue(queue.MAIL_QUEUE)
    jobs = Job.fetch_many(
        mail.get_job_ids(), connection=mail.connection, serializer=mail.serializer
    )
    return sorted(job.args[0] for job in jobs if job and job.func_name == queue.DELIVER_JOB)


def test_the_request_commits_a_wakeup_and_the_relay_enqueues_it(app: Flask) -> None:
    key = new_key(app, ["invitations"])
    client = app.test_client()
    for n in range(3):
        assert invite(client, key, f"friend{n}@example.com").status_code == 202
    # Held back (same address within the window): nothing to send, so nothing to wake.
    assert invite(client, key, "friend0@example.com").status_code == 202
    with app.app_context():
        messages = list(db.session.scalars(db.select(OutboundMessage.id).order_by("id")))
        assert len(messages) == 3
        assert _wakeups() == messages
        assert _queued_messages() == []  # the request never talked to Redis
        assert relay.relay_once() == 3
        assert _wakeups() == []
        assert _queued_messages() == messages
        assert relay.relay_once() == 0
        assert _queued_messages() == messages


def test_service_messages_wake_through_the_relay(app: Flask) -> None:
    key = new_key(app, ["messages"])
    answer = app.test_client().post(
        "/api/v1/messages",
        json={
            "email": "someone@example.com",
            "template": "security_alert",
            "context": {"name": "Sam", "event": "a new sign-in", "when": "today"},
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 202, answer.get_json()
    with app.app_context():
        [message_id] = db.session.scalars(db.select(OutboundMessage.id)).all()
        assert _wakeups() == [message_id]
        assert relay.drain() == 1
        assert _queued_messages() == [message_id]


def test_concurrent_relays_enqueue_each_message_once(app: Flask) -> None:
    count = 1500
    with app.app_context():
        db.session.execute(
            insert(OutboxWakeup.__table__), [{"message_id": i} for i in range(1, count + 1)]
        )
        db.session.commit()
    moved: list[int] = []
    errors: list[BaseException] = []

    def relay_until_empty() -> None:
        try:
            with app.app_context():
                while (n := relay.relay_once(limit=50)) > 0:
                    moved.append(n)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=relay_until_empty) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(moved) == count
    with app.app_context():
        # Every wake-up enqueued once: no batch was taken by two relays, none was skipped.
        assert _queued_messages() == list(range(1, count + 1))
        assert _wakeups() == []


def test_the_scheduler_process_runs_the_relay(app: Flask) -> None:
    key = new_key(app, ["invitations"])
    env = {**env_for(app.config["SETTINGS"]), "RELAY_INTERVAL_MS": "50"}
    scheduler = spawn.popen(
        ["scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert invite(app.test_client(), key, "friend@example.com").status_code == 202
        with app.app_context():
            [message_id] = db.session.scalars(db.select(OutboundMessage.id)).all()
            deadline = time.monotonic() + 30

            # The relay enqueues before it commits the wake-up's deletion (a Redis failure must
            # leave the wake-up for the next round), so wait for both.
            def relayed() -> bool:
                db.session.rollback()  # a fresh snapshot for each look at the wake-ups
                return _queued_messages() == [message_id] and _wakeups() == []

            while not relayed() and time.monotonic() < deadline:
                assert scheduler.poll() is None, scheduler.communicate()[0]
                time.sleep(0.05)
            assert _queued_messages() == [message_id]
            assert _wakeups() == []
    finally:
        scheduler.send_signal(signal.SIGTERM)
        try:
            output, _ = scheduler.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(scheduler.pid, signal.SIGKILL)
            output, _ = scheduler.communicate()
            raise AssertionError(f"the scheduler ignored SIGTERM:\n{output}") from None
    assert "outbox relay every 50 ms" in output


def test_migration_0004_round_trip(app: Flask) -> None:
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect, text

    from invites.core import dbsetup

    def function_source() -> str:
        return str(
            db.session.scalar(
                text("SELECT prosrc FROM pg_proc WHERE proname = 'spotcam_create_invitation'")
            )
        )

    dbsetup.migrations(app)
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        try:
            downgrade(revision="0003")
            db.engine.dispose()
            assert "outbox_wakeups" not in inspect(db.engine).get_table_names()
            if postgres:
                assert "outbox_wakeups" not in function_source()
                db.session.rollback()
        finally:
            upgrade()
            db.engine.dispose()
        assert "outbox_wakeups" in inspect(db.engine).get_table_names()
        if postgres:
            assert "INSERT INTO outbox_wakeups" in function_source()
