"""The delivery engine: outbox, claim, send, record, retry, reconcile, relay. It knows
kinds of message only through their registry and imports no product area."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Have the reconciler run periodically (retention jobs: `invites.privacy`)."""
    from invites.core import periodic
    from invites.core.queue import MAIL_QUEUE

    periodic.every(
        lambda s: s.reconcile_interval_seconds, "invites.delivery.jobs.reconcile_outbox", MAIL_QUEUE
    )
