"""Measure whether POST /api/v1/invitations answers a new address slower than a held one.

Run it from the repository root:

    .venv/bin/python bench/address_timing.py --redis-url redis://127.0.0.1:6379/15

The API answers 202 whatever is held about the address; this measures what its timing says.
Like bench/invitations.py it makes a scratch PostgreSQL database next to --database-url
(default $DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/test), migrates it and starts
one gunicorn worker on a free port; then one client sends invitations one at a time, in a
shuffled mix of four kinds of address: new, already invited (by someone else), removed
(suppressed) and a member (a synced contact). It prints each kind's median and 90th percentile
and the new address's median minus each other's. The scratch database is dropped at the end;
only the Redis database in the URL is used (the app reads nothing from it on this path).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / ".venv" / "bin"
KINDS = ("new", "already_invited", "removed", "member")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _request(port: int, method: str, path: str, key: str, body: dict) -> tuple[int, float]:
    """Send one request on a new connection (gunicorn's sync worker closes each one)."""
    data = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    resp.read()
    elapsed = time.perf_counter() - start
    conn.close()
    return resp.status, elapsed * 1000


def main() -> int:
    """Set up, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--per-kind", type=int, default=1500, help="measured requests per kind")
    args = parser.parse_args()
    given = args.database_url or "postgresql://postgres@127.0.0.1:5432/test"
    scratch = f"spotcam_timing_{os.getpid()}"
    admin = psycopg.connect(given, autocommit=True)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    url = urlsplit(given)._replace(path="/" + scratch).geturl()
    limit = str(10 * args.per_kind * len(KINDS))
    env = {
        **os.environ,
        "SPOTCAM_ENV": "test",
        "DATABASE_URL": url,
        "REDIS_URL": args.redis_url,
        "INVITES_PER_INVITER_DAY": limit,
        "INVITES_PER_INVITER_MONTH": limit,
    }

    def invites(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "invites"), *argv],
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        )

    server = None
    try:
        invites("db", "upgrade")
        created = invites(
            "api-keys", "create", "timing", "--scope", "invitations", "--scope", "contacts"
        )
        key = next(w for w in created.stdout.split() if w.startswith("sk_"))
        port = _free_port()
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}", "wsgi:app"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        n = args.per_kind
        held = {kind: [f"{kind}-{i}@example.com" for i in range(n)] for kind in KINDS[1:]}
        # Make the held addresses held: invited once, removed, or a member.
        for address in held["already_invited"] + held["removed"]:
            invitation = {"inviter_id": "seed", "inviter_name": "Seed", "email": address}
            _request(port, "POST", "/api/v1/invitations", key, invitation)
        with psycopg.connect(url, autocommit=True) as conn:
            # What a removal leaves: the invitation closed and the address's hash suppressed.
            conn.execute(
                "INSERT INTO suppressions (email_hash, reason, created_at) "
                "SELECT email_hash, 'removed', now() FROM invitations "
                "WHERE email LIKE 'removed-%%'"
            )
        for i, address in enumerate(held["member"]):
            _request(port, "PUT", f"/api/v1/contacts/m{i}", key, {"email": address})
        plan = [(kind, i) for kind in KINDS for i in range(n)]
        random.shuffle(plan)
        warm = [("new", n + i) for i in range(200)]
        times: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for kind, i in warm + plan:
            fresh = f"new-{i}-{secrets.token_hex(4)}@example.com" if kind == "new" else None
            invitation = {
                "inviter_id": f"u{i % 1000}",
                "inviter_name": "Anna",
                "email": fresh or held[kind][i],
            }
            status, ms = _request(port, "POST", "/api/v1/invitations", key, invitation)
            if status != 202:
                print(f"unexpected {status} for {kind}", file=sys.stderr)
                return 1
            if (kind, i) not in warm:
                times[kind].append(ms)
        medians = {kind: statistics.median(values) for kind, values in times.items()}
        print(f"{'address':<16} {'p50 ms':>8} {'p90 ms':>8} {'new - this, p50 ms':>20}")
        for kind, values in times.items():
            p90 = statistics.quantiles(values, n=10)[-1]
            print(
                f"{kind:<16} {medians[kind]:8.3f} {p90:8.3f} {medians['new'] - medians[kind]:20.3f}"
            )
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
        )
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
