"""Helpers for races between people: console sessions over real HTTP, requests sent at once,
and a campaign row held locked until every request is queued behind it (PostgreSQL).

Holding the row is what makes a race a test rather than a hope: the requests are sent from
threads released together, each gets as far as the campaign's lock (the server is threaded,
so they run side by side), and only when PostgreSQL shows all of them waiting for it is the
lock let go. What follows is the order the database chooses, and the assertions hold for
either order.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import httpx
from sqlalchemy import create_engine, text

from .staff import CSRF_INPUT, PASSWORD, SEEN_INPUT
from .wait import until

T = TypeVar("T")


def console_session(base: str, email: str, password: str = PASSWORD) -> httpx.Client:
    """An HTTP client signed in to the console, as one browser would be."""
    client = httpx.Client(base_url=base, timeout=60)
    token = CSRF_INPUT.search(client.get("/console/login").text)
    assert token, "no CSRF token on the sign-in page"
    done = client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
    )
    assert done.status_code == 302, done.text
    return client


def form_of(client: httpx.Client, path: str) -> dict[str, str]:
    """The hidden fields of the forms on a console page, as the browser has them now."""
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    token = CSRF_INPUT.search(page.text)
    assert token, f"no CSRF token on {path}"
    # `confirmed`: as the confirmation page before Send and Cancel adds it (see page_fields).
    return {"csrf_token": token.group(1), **dict(SEEN_INPUT.findall(page.text)), "confirmed": "yes"}


def flash(page: str) -> list[str]:
    """The messages at the top of a console page."""
    import html

    found = re.findall(r'<p class="flash [a-z]+" role="status">([^<]+)</p>', page)
    return [html.unescape(m) for m in found]


def waiting_for_locks(database_url: str) -> int:
    """How many of this database's sessions are waiting for a row lock held by another."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query ILIKE '%FOR UPDATE%'"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


@contextmanager
def row_held(database_url: str, campaign_id: int) -> Iterator[Callable[[int], None]]:
    """Hold the campaign's row locked, as a slow step would, until the block ends; yield a
    function that waits until n steps are queued behind it."""
    engine = create_engine(database_url)

    def queued(n: int) -> None:
        until(lambda: waiting_for_locks(database_url) >= n, f"{n} steps queued behind the lock")

    try:
        with engine.connect() as holder:
            holder.execute(
                text("SELECT id FROM campaigns WHERE id = :id FOR UPDATE"), {"id": campaign_id}
            )
            try:
                yield queued
            finally:
                holder.rollback()  # let them go: the database picks the order
    finally:
        engine.dispose()


def race(database_url: str, campaign_id: int, *calls: Callable[[], T]) -> list[T]:
    """Start the calls at once while the campaign's row is held locked; let it go only when
    all of them wait for it; return their results in the order given."""
    gate = threading.Barrier(len(calls))

    def together(call: Callable[[], T]) -> T:
        gate.wait(timeout=30)
        return call()

    pool = ThreadPoolExecutor(len(calls))
    try:
        with row_held(database_url, campaign_id) as queued:
            futures = [pool.submit(together, call) for call in calls]
            queued(len(calls))
        return [f.result(timeout=60) for f in futures]
    finally:
        pool.shutdown(wait=True)
