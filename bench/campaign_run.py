"""The part of bench/campaign.py that drives the service: make a campaign, send it, watch it."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time
import urllib.request
from collections import Counter
from contextlib import suppress
from pathlib import Path
from typing import Any

from common import BIN, REPO, BenchError, peak_rss_mb, proc_cpu_split

BODY = """# New filters for winter, {{ first_name|default('friend', true) }}

Snow, night skies and candlelight: three new filters tuned for the season, and a faster
gallery. **Open the app** to try them.

| Filter | Best for |
|---|---|
| Frost | snow and ice |
| Lantern | city lights at night |
| Ember | candles and fires |

1. Open a photo.
2. Swipe to the winter row.
3. Keep the one you like.

[Your email preferences]({{ preferences_url }})
"""


class CampaignRun:
    """Campaigns for the benchmark, made and started the way the console does."""

    def __init__(self, env: dict[str, str], sink: Any, work: Path) -> None:
        from invites import create_app
        from invites.core.config import from_env

        self.env, self.sink, self.work = env, sink, work
        self.app = create_app(from_env(env))
        self.runs = 0

    def _campaign(self) -> int:
        from invites.campaigns import content, lifecycle
        from invites.core.db import db
        from mailer.authoring import Draft

        actor = lifecycle.Actor(None, "bench")
        with self.app.app_context():
            campaign = lifecycle.create(
                db.session, actor, name=f"Winter filters {self.runs}", category="promotional"
            )
            for locale in ("en", "ru"):
                draft = Draft(
                    subject="Winter filters, {{ first_name }}", preheader="New", body=BODY
                )
                compiled = content.compile_locale(self.app, campaign, locale, draft, sample={})
                lifecycle.save_content(
                    db.session, campaign, actor, locale, draft, content.stored(compiled)
                )
            db.session.commit()
            return int(campaign.id)

    def sample_message(self) -> bytes:
        """The bytes of one campaign message as the worker would build them (for the baseline)."""
        from types import SimpleNamespace

        from invites.campaigns.content import MessageBuilder
        from invites.campaigns.models import Campaign
        from invites.core.atrest import vault
        from invites.core.db import db

        campaign_id = self._campaign()
        with self.app.app_context():
            campaign = db.session.get(Campaign, campaign_id)
            assert campaign is not None
            box = vault(self.app.config["SETTINGS"])
            email = "p1@bench.example.org"
            row = SimpleNamespace(
                locale="en",
                public_id="A" * 22,
                name="Person1 Bench",
                email_sealed=box.seal_address("contacts.email", email, box.hash(email)),
                email_hash=box.hash(email),
            )
            data = MessageBuilder(self.app, campaign).build(row).data
            db.session.delete(campaign)
            db.session.commit()
        return data

    def _worker(self, n: int, simple: bool) -> subprocess.Popen[bytes]:
        log = (self.work / f"worker-{self.runs}-{n}.log").open("w")
        mode = ["--simple"] if simple else []
        return subprocess.Popen(
            [str(BIN / "invites"), "worker", *mode, "--queues", "campaigns"],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _wait_ready(self, procs: list[subprocess.Popen[bytes]], timeout: float = 120) -> None:
        """Wait until every worker has registered with RQ (imported the app, waits on the
        queue), and a little more: a loaded host can take seconds to import, and that CPU and
        time are not the campaign's."""
        from rq import Worker

        from invites.core import queue

        deadline = time.monotonic() + timeout
        pids = {p.pid for p in procs}
        with self.app.app_context():
            conn = queue.connection(self.app)
            while len({w.pid for w in Worker.all(connection=conn)} & pids) < len(pids):
                if time.monotonic() > deadline:
                    raise BenchError("the workers did not start")
                if any(p.poll() is not None for p in procs):
                    raise BenchError("a worker exited on start")
                time.sleep(0.1)
        time.sleep(0.5)

    def _status(self, campaign_id: int) -> str:
        from invites.campaigns.models import Campaign
        from invites.core.db import db

        with self.app.app_context():
            found = db.session.get(Campaign, campaign_id)
            status = found.status if found else "gone"
            db.session.remove()
        return str(status)

    def progress_poll_ms(self, campaign_id: int, reads: int = 25) -> dict[str, float]:
        """Median milliseconds of one progress read as the console's progress JSON makes it
        (the campaign, its counts, its rate), and of the ledger GROUP BY it replaced."""
        from invites.campaigns import progress
        from invites.campaigns.models import Campaign
        from invites.core.db import db

        def one(read: Any) -> float:
            with self.app.app_context():
                start = time.perf_counter()
                campaign = db.session.get(Campaign, campaign_id)
                assert campaign is not None
                read(campaign)
                took = time.perf_counter() - start
                db.session.remove()
            return took * 1000

        def poll(campaign: Campaign) -> None:
            progress.progress(db.session, self.app, campaign).as_json()

        def group_by(campaign: Campaign) -> None:
            progress.ledger_counts(db.session, campaign.id)

        found = {}
        for name, read in (("progress_poll_ms", poll), ("ledger_group_by_ms", group_by)):
            for _ in range(3):  # warm: connections made, statements cached
                one(read)
            found[name] = round(statistics.median(one(read) for _ in range(reads)), 2)
        return found

    def _unsubscribe_url(self, campaign_id: int, contact_id: int) -> str:
        from invites.accounts.models import Contact
        from invites.campaigns.content import unsubscribe_url
        from invites.campaigns.models import Campaign
        from invites.core.db import db

        with self.app.app_context():
            campaign = db.session.get(Campaign, campaign_id)
            contact = db.session.get(Contact, contact_id)
            assert campaign is not None and contact is not None
            url = unsubscribe_url(
                self.app.config["SETTINGS"], self.app, contact.public_id, campaign
            )
            db.session.remove()
        return url

    def send(
        self,
        *,
        workers: int,
        expected: set[str],
        unsubscribe_port: int | None,
        timeout: float,
        simple: bool = True,
    ) -> dict[str, Any]:
        """Deliver one campaign with this many workers (in-process, or forking a child per
        job); measure it and check what arrived."""
        from invites.campaigns import jobs, lifecycle
        from invites.campaigns.models import Campaign
        from invites.core.db import db

        self.runs += 1
        campaign_id = self._campaign()
        before = self.sink.count()
        procs: list[subprocess.Popen[bytes]] = []
        try:  # whatever fails from here on, the workers are stopped
            procs.extend(self._worker(i, simple) for i in range(workers))
            self._wait_ready(procs)
            user_before, sys_before = _cpu(procs)
            actor = lifecycle.Actor(None, "bench")
            started = time.time()
            with self.app.app_context():
                campaign = db.session.get(Campaign, campaign_id)
                assert campaign is not None
                lifecycle.send_now(db.session, campaign, actor, self.app.config["SETTINGS"])
                db.session.commit()
                jobs.enqueue_plan(campaign_id)
            unsub: dict[str, Any] = {
                "unsubscribed": None,
                "unsubscribe_post_s": None,
                "after_unsubscribe": 0,
            }
            target_address = None
            peak = 0.0
            deadline = time.monotonic() + timeout
            while True:
                peak = max(peak, max(peak_rss_mb(p.pid) for p in procs))
                arrived = self.sink.count() - before
                if unsubscribe_port and target_address is None and arrived >= len(expected) // 3:
                    # A contact near the end of the audience: not reached yet, so the POST
                    # meets a campaign in full flight.
                    last = max(int(a.split("person")[1].split("@")[0]) for a in expected)
                    target_address = f"person{last}@bench.example.org"
                    url = self._unsubscribe_url(campaign_id, last)
                    path = url.split("://", 1)[1].split("/", 1)[1]
                    req = urllib.request.Request(
                        f"http://127.0.0.1:{unsubscribe_port}/{path}",
                        data=b"List-Unsubscribe=One-Click",
                        headers={"Content-Type": "application/x-www-form-urlencoded"},
                    )
                    t0 = time.time()
                    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                        if resp.status != 200:
                            raise BenchError(f"unsubscribe answered {resp.status}")
                    returned = time.time()
                    unsub.update(
                        unsubscribed=target_address,
                        unsubscribe_post_s=round(returned - t0, 3),
                        returned_at=returned,
                    )
                if self._status(campaign_id) in ("done", "cancelled", "paused"):
                    break
                if time.monotonic() > deadline:
                    raise BenchError("the campaign did not finish in time")
                time.sleep(0.2)
            time.sleep(0.5)
            user, system = _cpu(procs)
            user, system = user - user_before, system - sys_before
            polls = self.progress_poll_ms(campaign_id)
        finally:
            for p in procs:
                with_signal(p, signal.SIGTERM)
        got = self.sink.received()[before:]
        counts = Counter(a for a, _ in got)
        arrivals = sorted(t for _, t in got)
        should = expected - ({target_address} if target_address else set())
        if target_address:
            unsub["after_unsubscribe"] = sum(
                1 for a, t in got if a == target_address and t > unsub["returned_at"]
            )
            should = should | ({target_address} if counts[target_address] else set())
        sent = sum(counts.values())
        elapsed = arrivals[-1] - started if arrivals else 0.0
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
        return {
            "workers": workers,
            "mode": "simple" if simple else "forking",
            "status": self._status(campaign_id),
            "messages": sent,
            "rate": round(sent / elapsed, 1) if elapsed else 0.0,
            "elapsed_s": round(elapsed, 2),
            "first_message_s": round(arrivals[0] - started, 3) if arrivals else None,
            "cpu_us_per_message": round((user + system) / sent * 1e6) if sent else None,
            "cpu_system_us_per_message": round(system / sent * 1e6) if sent else None,
            "peak_rss_mb": round(peak, 1),
            "max_gap_s": round(max(gaps), 3) if gaps else None,
            # Where the longest pauses fell (the message after each, counted from 0): planning
            # slices, a job's start, or the sink.
            "longest_gaps": [
                [i + 1, round(g, 3)] for i, g in sorted(enumerate(gaps), key=lambda x: -x[1])[:8]
            ],
            **polls,
            "duplicates": sum(c - 1 for c in counts.values() if c > 1),
            "missing": len(should - set(counts)),
            "unexpected": len(set(counts) - should - {target_address}),
            **{k: v for k, v in unsub.items() if k != "returned_at"},
        }


def _cpu(procs: list[subprocess.Popen[bytes]]) -> tuple[float, float]:
    """(user, system) CPU seconds of the workers, their reaped children included."""
    split = [proc_cpu_split(p.pid) for p in procs]
    return sum(u for u, _ in split), sum(s for _, s in split)


def with_signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Stop a worker's process group and wait for it."""
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
