"""What the partner-sharing rule costs the queries that decide who gets partner offers.

Run it from the repository root:

    .venv/bin/python bench/partner_consent.py [--n 100000] [--database-url URL]

The one eligibility rule (invites/accounts/eligibility.py) asks, for partner offers, that a
consent was not given under a policy version older than a partner-sharing change in force
(invites/privacy/consent.py). This makes a scratch PostgreSQL database next to
--database-url (default $DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/test),
migrates it, seeds N contacts (40% with a partner consent, under the old or the new version)
and times, with the rule and with the same query without it: the audience count the
planner and the editor run, and the send-time check of one round of 100 contacts (the
campaign sender's per-round read). Both with no sharing change in force and with one.
Medians of --repeat runs each, in milliseconds. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import and_, exists, func, not_, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, scratch_database  # noqa: E402  (the bench folder is not a package)


def _seed(conn: Any, n: int) -> None:
    """n contacts; every 5th and 5th+2nd has a partner consent, half under the new version."""
    conn.execute(
        text(
            "INSERT INTO contacts (id, public_id, user_id, email, email_hash, locale, created_at,"
            " updated_at) SELECT i, 'p' || i, 'u' || i, 'c' || i || '@example.org',"
            " md5(i::text), 'en', now(), now() FROM generate_series(1, :n) AS i"
        ),
        {"n": n},
    )
    conn.execute(
        text(
            "INSERT INTO preferences (contact_id, category, granted, updated_at, policy_version)"
            " SELECT i, 'partner_offers', true, now(),"
            " CASE WHEN i % 2 = 0 THEN '2027-01' ELSE '2026-01' END"
            " FROM generate_series(1, :n) AS i WHERE i % 5 IN (0, 2)"
        ),
        {"n": n},
    )
    conn.execute(text("ANALYZE"))


def _sharing_change(conn: Any, in_force: bool) -> None:
    """The initial version in force for 60 days; 2027-01 changes partner sharing, in force
    from today, or only in 40 days."""
    conn.execute(text("DELETE FROM policy_versions WHERE label = '2027-01'"))
    conn.execute(text("UPDATE policy_versions SET effective_on = current_date - 60"))
    conn.execute(
        text(
            "INSERT INTO policy_versions (label, effective_on, material, changes_partner_sharing,"
            " placeholder, created_at, updated_at, published_at) VALUES ('2027-01',"
            " current_date + :days, true, true, false, now(), now(), now())"
        ),
        {"days": 0 if in_force else 40},
    )
    conn.commit()


def _medians_ms(conn: Any, statements: dict[str, Any], repeat: int) -> dict[str, float]:
    """Each statement's median time; the statements take turns, so that a noisy neighbour
    on a shared machine slows them alike."""
    times: dict[str, list[float]] = {name: [] for name in statements}
    for _ in range(repeat):
        for name, statement in statements.items():
            start = time.perf_counter()
            conn.execute(statement).all()
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="contacts (default 100,000)")
    parser.add_argument("--repeat", type=int, default=15, help="runs per query (median)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    from flask_migrate import upgrade

    from invites import create_app
    from invites.accounts import eligibility
    from invites.accounts.models import Contact, Preference
    from invites.core.config import from_env
    from invites.core.db import db

    with scratch_database(args.database_url) as (url, version):
        driver_url = "postgresql+psycopg://" + url.split("://", 1)[1]
        settings = dataclasses.replace(from_env({"SPOTCAM_ENV": "test"}), database_url=driver_url)
        app = create_app(settings)
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                _seed(conn, args.n)
                conn.commit()
                old_granted = exists(
                    select(Preference.contact_id).where(
                        Preference.contact_id == Contact.id,
                        Preference.category == "partner_offers",
                        Preference.granted.is_(True),
                    )
                )
                rules = {
                    "with the rule": eligibility.may_receive("partner_offers", settings),
                    "without it": and_(old_granted, not_(eligibility.suppressed_for_marketing())),
                }
                ids = list(range(1, args.n + 1, max(1, args.n // 100)))[:100]
                print(f"{args.n:,} contacts, PostgreSQL {version}, {machine()['cpu']}")
                print(f"{'':38} {'with the rule':>14} {'without it':>12}")
                for in_force in (False, True):
                    _sharing_change(conn, in_force)
                    state = (
                        "a sharing change in force" if in_force else "no sharing change in force"
                    )
                    counts = _medians_ms(
                        conn,
                        {n: select(func.count(Contact.id)).where(r) for n, r in rules.items()},
                        args.repeat,
                    )
                    rounds = _medians_ms(
                        conn,
                        {
                            n: select(Contact.id, r).where(Contact.id.in_(ids))
                            for n, r in rules.items()
                        },
                        args.repeat * 10,
                    )
                    audience = conn.execute(
                        select(func.count(Contact.id)).where(rules["with the rule"])
                    ).scalar_one()
                    with_rule, without = counts["with the rule"], counts["without it"]
                    print(
                        f"audience count, {state:27} {with_rule:11.1f} ms {without:9.1f} ms"
                        f"  ({audience:,} with the rule)"
                    )
                    with_rule, without = rounds["with the rule"], rounds["without it"]
                    print(f"round of 100, {state:29} {with_rule:11.2f} ms {without:9.2f} ms")
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
