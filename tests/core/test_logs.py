"""What the processes log: quiet at idle, INFO when a periodic job did something, and with
LOG_FORMAT=json one JSON object per line, naming the job or the request, never an address."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from flask import Flask
from rq.registry import FinishedJobRegistry

from invites.core import queue
from invites.core.config import Settings
from invites.core.db import db, utcnow
from invites.delivery.models import OutboundMessage

from ..support import spawn
from ..support.helpers import (
    env_for,
    free_port,
    invite,
    make_app,
    new_key,
    worker_process,
)
from ..support.smtpd import SMTPSink
from ..support.wait import until

ADDRESS = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


@contextmanager
def _process(settings: Settings, log: Path, *args: str) -> Iterator[spawn.Child]:
    """A real `invites` process, its output in a file the test reads while it runs."""
    with log.open("w") as out:
        proc = spawn.popen(
            args,
            env=env_for(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def _finished(app: Flask) -> int:
    with app.app_context():
        return FinishedJobRegistry(queue=queue.queue(queue.MAIL_QUEUE)).count


def _info_lines(*logs: Path, after: dict[Path, int] | None = None) -> list[str]:
    lines = []
    for log in logs:
        text = log.read_text()[(after or {}).get(log, 0) :]
        lines += [line for line in text.splitlines() if " INFO " in line]
    return lines


def test_at_idle_the_log_is_quiet_and_a_job_that_did_something_says_so(
    app: Flask, settings: Settings, tmp_path: Path
) -> None:
    busy = dataclasses.replace(settings, campaign_tick_seconds=1, reconcile_interval_seconds=1)
    worker_log, scheduler_log = tmp_path / "worker.log", tmp_path / "scheduler.log"
    with (
        _process(busy, worker_log, "worker") as worker,
        _process(busy, scheduler_log, "scheduler"),
    ):
        # Started (its RQ scheduler too), and through the first round of every periodic job.
        until(lambda: "Scheduler for" in worker_log.read_text(), "the worker's RQ scheduler")
        until(lambda: _finished(app) >= 5, "the first round of periodic jobs")
        started = {log: len(log.read_text()) for log in (worker_log, scheduler_log)}
        # Three more seconds of ticks and reconciles with nothing to do: not a line at INFO.
        until(lambda: _finished(app) >= 11, "three more rounds of the tick and the reconciler")
        assert _info_lines(worker_log, scheduler_log, after=started) == []

        # Now the reconciler has something to do: a send a killed worker left unfinished.
        assert invite(app.test_client(), new_key(app, ["invitations"])).status_code == 202
        with app.app_context():
            until(lambda: _sent(app), "the invitation to be sent")
            msg = db.session.scalars(db.select(OutboundMessage)).one()
            msg.status, msg.claimed_at = "sending", utcnow() - timedelta(hours=1)
            db.session.commit()
        until(
            lambda: "1 interrupted send(s) unknown" in worker_log.read_text(),
            "the reconciler to record the interrupted send",
        )
        assert worker.poll() is None
    said = [line for line in _info_lines(worker_log) if "reconciler" in line]
    assert sum("1 interrupted send(s) unknown" in line for line in said) == 1, said
    # Each reconciler line at INFO had something to tell (on a slow machine it may also have
    # re-enqueued the invitation before the worker sent it), and names its job.
    for line in said:
        found = re.search(r"re-enqueued \d+ of (\d+) pending message\(s\), (\d+) interrupted", line)
        assert found and (int(found[1]) or int(found[2])) and "[job " in line, line


def _sent(app: Flask) -> bool:
    found = db.session.scalar(db.select(OutboundMessage.status)) == "sent"
    db.session.rollback()
    return found


def _json_lines(text: str) -> list[dict[str, str]]:
    entries = []
    for line in text.splitlines():
        if line.strip():
            entry = json.loads(line)  # every line is one JSON object
            assert isinstance(entry, dict), line
            assert {"time", "level", "logger", "message"} <= entry.keys(), line
            entries.append(entry)
    return entries


def test_json_logs_name_the_job_and_the_request_and_never_an_address(
    app: Flask, settings: Settings, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    port = free_port()
    own = dataclasses.replace(
        settings, log_format="json", smtp_url=smtp_sink.url, public_base_url="http://x.test"
    )
    web_app = make_app(own)
    key = new_key(web_app, ["invitations", "events", "contacts"])
    # The server refuses the invitation's recipient, quoting the address back.
    smtp_sink.fail_next(550, "5.1.1 <friend@example.com>: no such user", on="RCPT")
    web_out, web_err = tmp_path / "web.out", tmp_path / "web.log"
    with web_out.open("w") as out, web_err.open("w") as err:
        web = spawn.popen(
            ["run", "--port", str(port)],
            env=env_for(own),
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        until(lambda: _answers(base + "/healthz"), "the web server")
        headers = {"Authorization": f"Bearer {key}", "X-Request-ID": "req-42"}
        body = {"inviter_id": "u1", "inviter_name": "Anna", "email": "friend@example.com"}
        assert httpx.post(f"{base}/api/v1/invitations", json=body, headers=headers).is_success
        bounce = {"email": "gone@example.com", "type": "hard_bounce", "detail": "550 5.1.1"}
        answer = httpx.post(f"{base}/api/v1/events", json=bounce, headers=headers)
        assert answer.status_code == 202 and answer.headers["X-Request-ID"] == "req-42"
        # A path that holds an address (user ids may): the access line must not keep it.
        httpx.get(f"{base}/api/v1/contacts/someone@example.com", headers=headers)
    finally:
        os.killpg(web.pid, signal.SIGINT)
        web.wait(timeout=60)
    worker = worker_process(own)  # a real `invites worker --burst`
    assert worker.returncode == 0, worker.stderr[-3000:]
    assert len(smtp_sink.accepted_rcpts) == 0  # refused: the failure is what gets logged

    everything = web_out.read_text() + web_err.read_text() + worker.stdout + worker.stderr
    assert not ADDRESS.search(everything), ADDRESS.findall(everything)
    web_lines = _json_lines(web_err.read_text())
    worker_lines = _json_lines(worker.stderr)
    in_request = [e for e in web_lines if e.get("request_id") == "req-42"]
    assert any(e["path"] == "/api/v1/events" and "hard_bounce" in e["message"] for e in in_request)
    failed = [e for e in worker_lines if "failed permanently" in e["message"]]
    assert len(failed) == 1 and failed[0]["job_id"] and "<address>" in failed[0]["message"]
    # Its access line is there, the path blanked out with the address in it.
    assert any('"GET <address> HTTP/1.1" 404' in e["message"] for e in web_lines), web_lines


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
