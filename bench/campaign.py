"""Benchmark campaign delivery end to end against a bare smtplib loop to the same SMTP sink.

    .venv/bin/python bench/campaign.py               # 10,000 contacts
    .venv/bin/python bench/campaign.py --n 100000    # or --n 1000000

It needs PostgreSQL (--database-url, else $DATABASE_URL, else the local `test` database) and
Redis (--redis-url, default redis://127.0.0.1:6379/14, which it flushes). In a scratch database
it seeds N contacts with a mix of consents, suppressions and locales, starts an aiosmtpd sink in
a process of its own and gunicorn (for the unsubscribe), then measures, in one run:

1. the baseline: one smtplib connection sending pre-built messages of the campaign's size to
   the sink, as fast as it takes them (the sink's own limit on this machine), right before
   the lone worker's run and again right after it; the ratios are to the mean of the two;
2. the service: one real `invites worker --simple --queues campaigns` (the README's campaign
   worker: jobs run in the worker's process) delivering a campaign to all N (eligibility
   query, ledger, render, compose, SMTP), from "send" to the last message at the sink; while
   it runs, a one-click unsubscribe POST for a contact not reached yet, timed, and checked:
   nothing may reach that contact after the POST returned;
3. the same with the default forking worker (a child process per job);
4. the same campaign content again with two (in-process) workers.

For the lone in-process worker it also reports `max_gap_s`, the longest pause between two
consecutive messages at the sink after the first (planning must not stall it), and, once the
campaign is done, `progress_poll_ms`: the median of 25 progress reads as the console's progress
JSON makes them (with `ledger_group_by_ms`, the GROUP BY over the ledger they replaced).

The sink's record decides duplicates, missing and unexpected recipients, against the audience
computed here from the seeding rules, apart from the service. Prints a table and writes JSON
(default bench/results/campaign.json). Exit status 0 when the run completed (1 on a duplicate,
missing or unexpected recipient, or a message after the unsubscribe), 2 on a setup failure.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import smtplib
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402  (the bench folder is not a package)
    BIN,
    REPO,
    BenchError,
    flushed_redis,
    free_port,
    gunicorn,
    machine,
    run,
    scratch_database,
    url_with_db,
    wait_healthy,
)

DEFAULT_JSON = REPO / "bench" / "results" / "campaign.json"
RATIO_TARGET = 0.7
CPU_TARGET_US = 700
GAP_TARGET_S = 0.5
SUPPRESSED = {7: "hard_bounce", 11: "complaint", 13: "unsubscribed_all", 17: "removed"}


def person(i: int) -> dict[str, Any]:
    """Contact i's seeding rules: the same mix as the test suite's, at any N."""
    return {
        "email": f"person{i}@bench.example.org",
        "locale": "ru" if i % 3 == 0 else "en",
        "promotional": False if i % 5 == 0 else (True if i % 4 == 0 else None),
        "suppressed": SUPPRESSED.get(i % 19),
    }


def eligible(p: dict[str, Any]) -> bool:
    """Whether the privacy rules let a promotional campaign reach this person (the oracle)."""
    if p["suppressed"] in ("hard_bounce", "complaint", "unsubscribed_all"):
        return False
    return p["promotional"] is not False


def seed(db_url: str, n: int, hash_key: str, data_keys: str) -> set[str]:
    """COPY n contacts, their preferences and suppressions; return the eligible addresses."""
    import hashlib
    import hmac

    from invites.core.atrest import Vault

    box = Vault(data_keys, hash_key)  # addresses are stored sealed, as the service stores them

    expected = set()
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY contacts (id, public_id, user_id, email, email_hash, locale, name, "
            "created_at, updated_at) FROM STDIN"
        ) as copy:
            for i in range(1, n + 1):
                p = person(i)
                h = hmac.new(hash_key.encode(), p["email"].encode(), hashlib.sha256).hexdigest()
                p["hash"] = h
                copy.write_row(
                    (
                        i,
                        secrets.token_urlsafe(16),
                        f"user-{i}",
                        box.seal_address("contacts.email", p["email"], h),
                        h,
                        p["locale"],
                        f"Person{i} Bench",
                        "2026-12-01",
                        "2026-12-01",
                    )
                )
                if eligible(p):
                    expected.add(p["email"])
        with cur.copy(
            "COPY preferences (contact_id, category, granted, updated_at) FROM STDIN"
        ) as copy:
            for i in range(1, n + 1):
                granted = person(i)["promotional"]
                if granted is not None:
                    copy.write_row((i, "promotional", granted, "2026-12-01"))
        with cur.copy("COPY suppressions (email_hash, reason, created_at) FROM STDIN") as copy:
            for i in range(1, n + 1):
                p = person(i)
                if p["suppressed"]:
                    digest = hmac.new(hash_key.encode(), p["email"].encode(), hashlib.sha256)
                    copy.write_row((digest.hexdigest(), p["suppressed"], "2026-12-01"))
        cur.execute("SELECT setval('contacts_id_seq', %s)", (n,))
        cur.execute("ANALYZE")
        conn.commit()
    return expected


class Sink:
    """The aiosmtpd sink process and what it recorded."""

    def __init__(self, port: int, out: Path, log: Path) -> None:
        self.port, self.out = port, out
        self.proc = subprocess.Popen(
            [str(BIN / "python"), str(REPO / "bench" / "smtp_sink.py"), str(port), str(out)],
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise BenchError("the SMTP sink did not start")

    def _ask(self, sig: int, path: Path) -> str:
        """Signal the sink, and return what it writes to `path` in answer."""
        before = path.stat().st_mtime_ns if path.exists() else 0
        self.proc.send_signal(sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if path.exists() and path.stat().st_mtime_ns != before:
                return path.read_text()
            time.sleep(0.01)
        raise BenchError("the SMTP sink did not report")

    def received(self) -> list[tuple[str, float]]:
        """Everything that arrived so far: (recipient, unix time)."""
        return [tuple(x) for x in json.loads(self._ask(signal.SIGUSR1, self.out))]

    def count(self) -> int:
        """How many have arrived so far (cheap for the sink at any N, unlike `received`)."""
        return int(self._ask(signal.SIGUSR2, self.out.with_suffix(".count")))

    def stop(self) -> None:
        """End the sink process."""
        self.proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


def baseline(port: int, message: bytes, count: int) -> float:
    """Messages per second one bare smtplib connection gets the sink to take."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for i in range(50):  # warm up
            smtp.sendmail("news@spotcam.example", [f"warmup{i}@baseline.example"], message)
        start = time.perf_counter()
        for i in range(count):
            smtp.sendmail("news@spotcam.example", [f"b{i}@baseline.example"], message)
        return count / (time.perf_counter() - start)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000, help="contacts to seed (default: %(default)s)")
    p.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="an existing PostgreSQL database; the scratch one is made next to it",
    )
    p.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/14",
        help="Redis URL with a database number, flushed before and after (default: %(default)s)",
    )
    p.add_argument(
        "--baseline-messages", type=int, default=5000, help="messages in the baseline loop"
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["forking", "two"],
        help="leave out the forking-worker or the two-worker run (repeatable; for long runs)",
    )
    p.add_argument("--timeout", type=float, default=7200.0, help="give up after this long")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    args = p.parse_args(argv)
    if args.n < 100:
        p.error("--n must be at least 100")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write the JSON."""
    args = parse_args(argv)
    try:
        report = bench(args)
    except BenchError as exc:
        print(f"benchmark could not run: {exc}", file=sys.stderr)
        return 2
    print_table(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    bad = report["duplicates"] or report["missing"] or report["unexpected"]
    return 1 if bad or report["after_unsubscribe"] else 0


def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Set everything up, run the three measurements, and say what they found."""
    from campaign_run import CampaignRun  # the part that drives the service

    admin = url_with_db(
        args.database_url, urlsplit(args.database_url).path.strip("/") or "postgres", "postgresql"
    )
    work = REPO / "bench" / "results" / "campaign-run"
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"n": args.n, "machine": machine()}
    with scratch_database(admin) as (db_url, pg_version), flushed_redis(args.redis_url):
        report["machine"]["postgresql"] = pg_version
        sink_port, web_port = free_port(), free_port()
        env = {
            **os.environ,
            "SPOTCAM_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "ADDRESS_HASH_KEY": secrets.token_urlsafe(32),
            "DATA_KEYS": f"bench:{base64.b64encode(secrets.token_bytes(32)).decode()}",
            "DATABASE_URL": url_with_db(
                db_url, urlsplit(db_url).path.strip("/"), "postgresql+psycopg"
            ),
            "REDIS_URL": args.redis_url,
            "SMTP_URL": f"smtp://127.0.0.1:{sink_port}",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
        }
        run([str(BIN / "invites"), "db", "upgrade"], env, 120)
        started = time.monotonic()
        expected = seed(db_url, args.n, env["ADDRESS_HASH_KEY"], env["DATA_KEYS"])
        report["seed_s"] = round(time.monotonic() - started, 1)
        report["eligible"] = len(expected)
        sink = Sink(sink_port, work / "sink.json", work / "sink.log")
        try:
            with gunicorn(1, web_port, env, work / "gunicorn.log") as web:
                wait_healthy(web, web_port, work / "gunicorn.log", 60)
                drive = CampaignRun(env, sink, work)
                message = drive.sample_message()
                report["message_bytes"] = len(message)
                before = baseline(sink_port, message, args.baseline_messages)
                one = drive.send(
                    workers=1, expected=expected, unsubscribe_port=web_port, timeout=args.timeout
                )
                # Again right after the worker's run, which the two measurements bracket: this
                # host's speed drifts by a third within minutes, and a baseline taken only
                # before the run would put that drift into the ratio.
                after = baseline(sink_port, message, args.baseline_messages)
                report["baseline_before_msgs_per_s"] = round(before, 1)
                report["baseline_after_msgs_per_s"] = round(after, 1)
                report["baseline_msgs_per_s"] = round((before + after) / 2, 1)
                expected2 = expected - {one["unsubscribed"]} if one["unsubscribed"] else expected
                others: dict[str, dict[str, Any]] = {}
                if "forking" not in args.skip:
                    others["forking"] = drive.send(
                        workers=1,
                        expected=expected2,
                        unsubscribe_port=None,
                        timeout=args.timeout,
                        simple=False,
                    )
                if "two" not in args.skip:
                    others["two"] = drive.send(
                        workers=2, expected=expected2, unsubscribe_port=None, timeout=args.timeout
                    )
        finally:
            sink.stop()
    forking, two = others.get("forking", {}), others.get("two", {})
    runs = [one, *others.values()]
    base = report["baseline_msgs_per_s"]
    report.update(
        one_worker_msgs_per_s=one["rate"],
        one_forking_worker_msgs_per_s=forking.get("rate"),
        two_workers_msgs_per_s=two.get("rate"),
        ratio_one_worker=round(one["rate"] / base, 2),
        ratio_one_forking_worker=round(forking["rate"] / base, 2) if forking else None,
        cpu_us_per_message=one["cpu_us_per_message"],
        cpu_system_us_per_message=one["cpu_system_us_per_message"],
        cpu_us_per_message_forking=forking.get("cpu_us_per_message"),
        cpu_us_per_message_two_workers=two.get("cpu_us_per_message"),
        peak_rss_mb=one["peak_rss_mb"],
        peak_rss_mb_forking=forking.get("peak_rss_mb"),
        first_message_s=one["first_message_s"],
        max_gap_s=one["max_gap_s"],
        max_gap_s_two_workers=two.get("max_gap_s"),
        progress_poll_ms=one["progress_poll_ms"],
        ledger_group_by_ms=one["ledger_group_by_ms"],
        unsubscribe_post_s=one["unsubscribe_post_s"],
        after_unsubscribe=one["after_unsubscribe"],
        duplicates=sum(r["duplicates"] for r in runs),
        missing=sum(r["missing"] for r in runs),
        unexpected=sum(r["unexpected"] for r in runs),
        runs={"one_worker": one, "one_forking_worker": forking, "two_workers": two},
    )
    return report


def print_table(r: dict[str, Any]) -> None:
    """The table the README shows."""
    m = r["machine"]
    print(f"\n{m['cores']} cores, {m['cpu']}, Python {m['python']}, PostgreSQL {m['postgresql']}")
    print(f"{r['n']} contacts, {r['eligible']} eligible; message {r['message_bytes']} bytes\n")

    def rate(key: str) -> str:
        return "not run" if r[key] is None else f"{r[key]:.0f} msg/s"

    def maybe(key: str, fmt: str) -> str:
        return "not run" if r[key] is None else fmt.format(r[key])

    rows = [
        (
            "bare smtplib loop (baseline)",
            rate("baseline_msgs_per_s"),
            f"mean of {r['baseline_before_msgs_per_s']:.0f} before the one worker's run "
            f"and {r['baseline_after_msgs_per_s']:.0f} after it",
        ),
        (
            "one worker (--simple), end to end",
            rate("one_worker_msgs_per_s"),
            f"ratio {r['ratio_one_worker']:.2f} (target >= {RATIO_TARGET})",
        ),
        (
            "one forking worker (child per job)",
            rate("one_forking_worker_msgs_per_s"),
            maybe("ratio_one_forking_worker", "ratio {:.2f}"),
        ),
        ("two workers (--simple)", rate("two_workers_msgs_per_s"), ""),
        (
            "worker CPU per message",
            f"{r['cpu_us_per_message']:.0f} us",
            f"target <= {CPU_TARGET_US} us; {r['cpu_system_us_per_message']:.0f} us of it in "
            f"the kernel; forking: {maybe('cpu_us_per_message_forking', '{:.0f} us')}",
        ),
        (
            "peak worker RSS",
            f"{r['peak_rss_mb']:.0f} MB",
            f"forking: {maybe('peak_rss_mb_forking', '{:.0f} MB')}",
        ),
        ("first message after send", f"{r['first_message_s']:.2f} s", "target < 1 s"),
        (
            "longest pause between messages",
            f"{r['max_gap_s']:.3f} s",
            f"target < {GAP_TARGET_S} s (one worker); two workers: "
            + maybe("max_gap_s_two_workers", "{:.3f} s"),
        ),
        (
            "progress poll (median of 25)",
            f"{r['progress_poll_ms']:.2f} ms",
            f"the ledger GROUP BY it replaced: {r['ledger_group_by_ms']:.2f} ms",
        ),
        (
            "unsubscribe POST while sending",
            f"{r['unsubscribe_post_s']:.3f} s",
            f"messages after it: {r['after_unsubscribe']}",
        ),
        (
            "duplicates / missing / unexpected",
            f"{r['duplicates']} / {r['missing']} / {r['unexpected']}",
            "must be 0 / 0 / 0",
        ),
    ]
    width = max(len(a) for a, _, _ in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:<14} {note}")


if __name__ == "__main__":
    sys.exit(main())
