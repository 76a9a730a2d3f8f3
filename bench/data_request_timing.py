"""Measure whether POST /privacy/request answers a held address faster or slower than an
unknown one, with and without the answer's time floor (DATA_REQUEST_ANSWER_MS).

Run it from the repository root:

    .venv/bin/python bench/data_request_timing.py --redis-url redis://127.0.0.1:6379/15

It makes a scratch PostgreSQL database next to --database-url (default $DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/test), migrates it, syncs one account holder, and posts
the form through Flask's test client (the view, the database and Redis as in production, no
HTTP server) in a shuffled mix of the held address and fresh unknown ones, with the floor off
(0 ms: what the work alone would tell) and at its default. It prints each kind's median and
90th percentile and the difference of the medians, in milliseconds. The database is dropped
at the end; the Redis database in the URL is flushed before and after.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import flushed_redis, machine, scratch_database  # noqa: E402 (not a package)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _run(app: object, rounds: int) -> dict[str, list[float]]:
    client = app.test_client()  # type: ignore[attr-defined]
    token = CSRF.search(client.get("/privacy/request").text)
    assert token is not None
    kinds = ["held", "unknown"] * rounds
    random.shuffle(kinds)
    took: dict[str, list[float]] = {"held": [], "unknown": []}
    for n, kind in enumerate(kinds):
        email = "held.person@example.org" if kind == "held" else f"nobody{n}@example.org"
        started = time.perf_counter()
        resp = client.post("/privacy/request", data={"email": email, "csrf_token": token.group(1)})
        took[kind].append((time.perf_counter() - started) * 1000)
        assert resp.status_code == 200, resp.status_code
    return took


def main() -> None:
    """Print the medians per kind of address, with the floor off and on."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100, help="requests per kind and setting")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    from flask_migrate import upgrade

    from invites import create_app
    from invites.accounts import contacts
    from invites.core import dbsetup
    from invites.core.config import from_env
    from invites.core.db import db, utcnow

    with scratch_database(args.database_url) as (url, version), flushed_redis(args.redis_url):
        driver_url = "postgresql+psycopg://" + url.split("://", 1)[1]
        base = dataclasses.replace(
            from_env({"SPOTCAM_ENV": "test"}),
            database_url=driver_url,
            redis_url=args.redis_url,
            # The limits are not what is measured here.
            data_request_limit_per_address="100000 per hour",
            data_request_limit_per_ip="100000 per hour",
        )
        print(f"PostgreSQL {version}, {machine()['cpu']}, {args.rounds} requests per kind")
        for floor in (0, base.data_request_answer_ms):
            app = create_app(dataclasses.replace(base, data_request_answer_ms=floor))
            with app.app_context():
                if floor == 0:
                    dbsetup.migrations(app)
                    upgrade()
                    contacts.upsert(
                        db.session, "u-1", "held.person@example.org", "en", None, base, utcnow()
                    )
                    db.session.commit()
                took = _run(app, args.rounds)
                db.session.remove()
                db.engine.dispose()
            medians = {k: statistics.median(v) for k, v in took.items()}
            for kind, values in took.items():
                p90 = statistics.quantiles(values, n=10)[-1]
                print(
                    f"floor {floor:>3} ms  {kind:<8} median {medians[kind]:7.2f} ms"
                    f"  p90 {p90:7.2f} ms"
                )
            print(
                f"floor {floor:>3} ms  held − unknown: "
                f"{medians['held'] - medians['unknown']:+.2f} ms"
            )


if __name__ == "__main__":
    main()
