"""Invitation jobs the scheduler runs."""

from __future__ import annotations

import logging

from flask import current_app

from invites.core.db import db, utcnow
from invites.invitations import lifecycle
from invites.privacy import register

log = logging.getLogger(__name__)


def expire_invitations() -> int:
    """Erase what the register says invitations keep no longer (scheduled hourly)."""
    settings = current_app.config["SETTINGS"]
    now = utcnow()
    window = register.period("invitation_address", settings)
    hashes = register.period("removal_hash", settings)
    throttle = register.period("address_throttle", settings)
    expired = lifecycle.expire(db.session, now, window)
    forgotten = lifecycle.forget_removal_hashes(db.session, now - hashes)
    unthrottled = lifecycle.forget_address_throttles(db.session, now - throttle)
    db.session.commit()
    # Counts only, never which invitation or address; at INFO only when it erased something
    # (it runs hourly, mostly with nothing to do).
    if expired or forgotten or unthrottled:
        log.info(
            "retention: %d invitation(s) past %d days closed and erased; %d removal-link "
            "hash(es) past %d days erased; %d address throttle(s) past %d days forgotten",
            expired,
            window.days,
            forgotten,
            hashes.days,
            unthrottled,
            throttle.days,
        )
    return expired
