"""Retention jobs for data no product area owns (the register names each job and its period)."""

from __future__ import annotations

import logging

from flask import current_app

from invites.core import idempotency
from invites.core.db import db, utcnow
from invites.privacy import register

log = logging.getLogger(__name__)


def forget_idempotency_answers() -> int:
    """Forget Idempotency-Key answers past the register's period (scheduled hourly)."""
    keep = register.period("idempotency_answers", current_app.config["SETTINGS"])
    forgotten = idempotency.purge(db.session, utcnow() - keep)
    db.session.commit()
    if forgotten:  # at INFO only when it did something
        log.info(
            "retention: %d idempotency answer(s) past %d hours forgotten",
            forgotten,
            keep.total_seconds() // 3600,
        )
    return forgotten
