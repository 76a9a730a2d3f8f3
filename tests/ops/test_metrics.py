"""/metrics: every process's counters added up, read by a real scraper's parser, no address.

The main story runs what production runs: gunicorn with two workers, a long-running RQ worker
(a work horse per job, each with its own metric files), a real SMTP server; it scrapes while a
campaign sends and after, and compares the counters with the campaign's ledger.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from invites.core import metrics
from invites.core.config import Settings, from_env
from invites.delivery import relay

from ..support.campaigns import ledger, make_campaign, people, seed, send_now, status, tick
from ..support.helpers import auth, make_app, new_key
from ..support.processes import Processes
from ..support.servers import gunicorn
from ..support.smtpd import SMTPSink
from ..support.wait import until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _parse(body: str) -> Samples:
    """Every sample by name and labels, through prometheus-client's own parser."""
    found: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include these."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def _per_process(settings: Settings, kind: str) -> list[str]:
    """The metric files of one kind that belong to a process (named by its pid)."""
    files = os.listdir(settings.metrics_dir or "")
    return [f for f in files if f.startswith(kind + "_") and f[len(kind) + 1 : -3].isdigit()]


def test_metrics_add_up_across_gunicorn_workers_and_the_campaign_worker(
    app: Flask,
    settings: Settings,
    smtp_sink: SMTPSink,
    tmp_path: Path,
    processes: Processes,
) -> None:
    run = dataclasses.replace(
        settings,
        smtp_url=smtp_sink.url,
        campaign_batch_size=8,  # several batches: several work horses, each its own files
        metrics_dir=str(tmp_path / "metrics"),
    )
    camp = make_app(run)
    audience = people(60)
    seed(camp, audience)
    campaign_id = make_campaign(camp)
    key = new_key(camp, ["invitations"])

    with gunicorn(run, workers=2) as base:

        def scrape() -> tuple[str, Samples]:
            resp = httpx.get(f"{base}/metrics", timeout=10)
            assert resp.status_code == 200, resp.text
            assert resp.headers["Content-Type"].startswith("text/plain")
            return resp.text, _parse(resp.text)

        invited = httpx.post(
            f"{base}/api/v1/invitations",
            json={"inviter_id": "user-1", "inviter_name": "Anna", "email": "friend@example.net"},
            headers=auth(key),
        )
        assert invited.status_code == 202, invited.text
        with camp.app_context():
            relay.drain()  # what the scheduler's relay does: a job for the invitation
        text, samples = scrape()
        bodies = [text]
        # Queue depth, read from Redis: the invitation's job waits, as no worker runs yet.
        assert samples[("spotcam_queue_jobs", (("queue", "mail"), ("state", "queued")))] == 1
        assert samples[("spotcam_metrics_source_up", (("source", "redis"),))] == 1
        processes.start(run, "worker", "--queues", "mail,campaigns")  # its log in a file
        smtp_sink.wait_for(1, timeout=60)
        # Slow enough to scrape mid-campaign; one refused recipient, one reply that never comes.
        smtp_sink.fail_next(550, "5.1.1 mailbox unavailable")
        smtp_sink.store_then_drop()
        smtp_sink.store_then_reply_late(0.1, times=10_000)
        send_now(camp, campaign_id)

        sent_seen: list[float] = []

        def mid_campaign() -> bool:
            text, samples = scrape()
            bodies.append(text)
            sent_seen.append(
                _total(samples, "spotcam_messages_total", kind="campaign", outcome="sent")
            )
            rows = Counter(ledger(camp, campaign_id).values())
            under_way = _total(samples, "spotcam_campaign_messages", campaign=str(campaign_id))
            # Seen while it sends: counted messages, the campaign's rows in the progress gauge.
            return sent_seen[-1] > 0 and rows["queued"] > 0 and under_way == sum(rows.values())

        until(mid_campaign, "a scrape in the middle of the campaign")

        # Many requests at once: both web workers answer some.
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: httpx.get(f"{base}/healthz").status_code, range(40)))
        assert codes == [200] * 40
        # Each web worker times its requests in files of its own.
        assert len(_per_process(run, "histogram")) == 2

        def finished() -> bool:
            tick(camp)  # what the scheduler does every few seconds
            return status(camp, campaign_id) == "done"

        until(finished, "the campaign to finish", seconds=120)
        text, samples = scrape()
        bodies.append(text)
        text, again = scrape()
        bodies.append(text)

    rows = Counter(ledger(camp, campaign_id).values())
    assert rows["sent"] > 20 and rows["failed"] == 1 and rows["unknown"] == 1
    for outcome in ("sent", "failed", "unknown"):
        counted = _total(again, "spotcam_messages_total", kind="campaign", outcome=outcome)
        assert counted == rows[outcome], outcome
    assert _total(again, "spotcam_messages_total", kind="invitation", outcome="sent") == 1
    # Counters only go up, scrape after scrape (folding exited processes' files keeps totals).
    assert sent_seen == sorted(sent_seen) and sent_seen[-1] <= rows["sent"]
    assert _total(samples, "spotcam_messages_total") == _total(again, "spotcam_messages_total")
    # Request latency from both web workers: every /healthz above counted once.
    healthz = {"endpoint": "health.healthz", "method": "GET", "status": "200"}
    assert _total(again, "spotcam_http_request_duration_seconds_count", **healthz) >= 40
    assert _total(again, "spotcam_http_request_duration_seconds_bucket", le="+Inf", **healthz) >= 40
    assert _total(again, "spotcam_http_request_duration_seconds_count", endpoint="metrics.scrape")
    # The exited work horses' files were folded by the scrapes, the web workers' by gunicorn's
    # master as they exited.
    assert _per_process(run, "histogram") == []
    assert {"counter_exited.db", "histogram_exited.db"} <= set(os.listdir(run.metrics_dir or ""))
    # The campaign, once done, is no longer reported.
    assert again[("spotcam_metrics_source_up", (("source", "database"),))] == 1
    assert _total(again, "spotcam_campaign_messages", campaign=str(campaign_id)) == 0
    # Not one address, in any scrape.
    for body in bodies:
        assert "@" not in body and "example.org" not in body and "example.net" not in body


_RECORD = """
import sys
from invites.core import metrics
metrics.configure(sys.argv[1])
for _ in range(int(sys.argv[2])):
    metrics.outcome("invitation", "sent")
"""


def _record_in_a_process(path: Path, times: int) -> None:
    env = {**os.environ, "SPOTCAM_ENV": "test"}
    subprocess.run([sys.executable, "-c", _RECORD, str(path), str(times)], env=env, check=True)


def test_exited_processes_files_are_folded_and_their_totals_kept(tmp_path: Path) -> None:
    path = tmp_path / "metrics"
    _record_in_a_process(path, 3)
    _record_in_a_process(path, 4)
    assert len(list(path.glob("counter_*.db"))) == 2

    first = _parse(metrics.exposition(str(path)).decode())
    _record_in_a_process(path, 5)
    second = _parse(metrics.exposition(str(path)).decode())

    sent = ("spotcam_messages_total", (("kind", "invitation"), ("outcome", "sent")))
    assert first[sent] == 7 and second[sent] == 12
    assert [p.name for p in path.glob("counter_*.db")] == ["counter_exited.db"]


_FORKING = """
import os
import sys
from invites.core import metrics
metrics.configure(sys.argv[1])
for _ in range(int(sys.argv[2])):  # as an RQ worker does: a child per job, waited for
    child = os.fork()
    if child == 0:
        metrics.outcome("campaign", "sent")
        os._exit(0)
    os.waitpid(child, 0)
"""


def test_a_forking_worker_leaves_one_exited_childs_files_scraped_or_not(tmp_path: Path) -> None:
    path = tmp_path / "metrics"
    env = {**os.environ, "SPOTCAM_ENV": "test"}
    subprocess.run([sys.executable, "-c", _FORKING, str(path), "30"], env=env, check=True)

    # Each fork folded the files of the child before it: the last child's are left.
    assert len(list(path.glob("counter_[0-9]*.db"))) == 1
    sent = ("spotcam_messages_total", (("kind", "campaign"), ("outcome", "sent")))
    assert _parse(metrics.exposition(str(path)).decode())[sent] == 30


def _scrape(app: Flask, **kwargs: object) -> tuple[int, dict[str, str], str]:
    resp = app.test_client().get("/metrics", **kwargs)
    return resp.status_code, dict(resp.headers), resp.get_data(as_text=True)


def test_metrics_are_served_to_loopback_only_by_default_and_never_through_a_proxy(
    app: Flask,
) -> None:
    assert _scrape(app)[0] == 200  # the test client's peer is 127.0.0.1
    code, headers, body = _scrape(app, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert code == 403 and headers["Content-Type"] == "application/problem+json"
    assert "METRICS_ALLOW" in body
    # A proxy on this host relays the world's requests from 127.0.0.1: they are refused.
    assert _scrape(app, headers={"X-Forwarded-For": "203.0.113.9"})[0] == 403


def test_a_token_opens_metrics_from_anywhere(settings: Settings) -> None:
    app = make_app(settings, metrics_allow=["10.0.0.0/8"], metrics_token="s3cret-token-0123")
    outside = {"environ_base": {"REMOTE_ADDR": "192.0.2.7"}}

    code, headers, _ = _scrape(app, **outside)
    assert code == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert _scrape(app, headers={"Authorization": "Bearer wrong"}, **outside)[0] == 401
    good = {"Authorization": "Bearer s3cret-token-0123"}
    assert _scrape(app, headers=good, **outside)[0] == 200
    assert _scrape(app, environ_base={"REMOTE_ADDR": "10.9.8.7"})[0] == 200


def test_metrics_settings_are_checked_and_none_means_the_token_only() -> None:
    base = {"SPOTCAM_ENV": "test"}
    assert from_env(base).metrics_allow == ["127.0.0.1", "::1"]
    assert from_env(base | {"METRICS_ALLOW": "none"}).metrics_allow == []
    with pytest.raises(ValueError, match="METRICS_ALLOW must list IP networks"):
        from_env(base | {"METRICS_ALLOW": "10.0.0.0/8, intranet"})
