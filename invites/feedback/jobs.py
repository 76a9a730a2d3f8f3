"""Feedback jobs the scheduler runs."""

from __future__ import annotations

import logging

from flask import current_app

from invites.core.db import db, utcnow
from invites.feedback.events import forget_old_windows
from invites.privacy import register

log = logging.getLogger(__name__)


def forget_soft_bounce_windows() -> int:
    """Forget soft-bounce counts past the register's window (scheduled hourly)."""
    window = register.period("soft_bounces", current_app.config["SETTINGS"])
    forgotten = forget_old_windows(db.session, utcnow() - window)
    db.session.commit()
    if forgotten:  # at INFO only when it did something
        log.info(
            "retention: %d soft-bounce count(s) past %d days forgotten", forgotten, window.days
        )
    return forgotten
