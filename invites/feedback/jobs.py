"""Feedback jobs the scheduler runs."""

from __future__ import annotations

import logging

from flask import current_app

from invites.core.db import db, utcnow
from invites.feedback.events import forget_old_windows

log = logging.getLogger(__name__)


def forget_soft_bounce_windows() -> int:
    """Forget soft-bounce counts whose window has passed (scheduled hourly)."""
    forgotten = forget_old_windows(db.session, current_app.config["SETTINGS"], utcnow())
    db.session.commit()
    if forgotten:  # at INFO only when it did something
        log.info("forgot %d soft-bounce window(s)", forgotten)
    return forgotten
