"""Invitation jobs the scheduler runs."""

from __future__ import annotations

import logging

from flask import current_app

from invites.core.db import db, utcnow
from invites.invitations import lifecycle

log = logging.getLogger(__name__)


def expire_invitations() -> int:
    """Erase the addresses of invitations past their window (scheduled hourly)."""
    expired = lifecycle.expire(db.session, current_app.config["SETTINGS"], utcnow())
    db.session.commit()
    if expired:  # at INFO only when it did something: it runs hourly, mostly with nothing to do
        log.info("expired %d invitation(s)", expired)
    return expired
