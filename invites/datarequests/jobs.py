"""Retention jobs for data requests (the processing register names them and their periods)."""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import delete

from invites.core.db import db, utcnow
from invites.datarequests import corrections
from invites.datarequests.models import DataRequest
from invites.privacy import register

log = logging.getLogger(__name__)


def forget_data_requests() -> int:
    """Erase request records and unconfirmed address changes past the register's periods
    (scheduled hourly); log counts only."""
    settings = current_app.config["SETTINGS"]
    now = utcnow()
    keep = register.period("data_request_records", settings)
    records = db.session.execute(delete(DataRequest).where(DataRequest.created_at < now - keep))
    forgotten = int(records.rowcount)  # type: ignore[attr-defined]
    changes = corrections.forget_unconfirmed(
        db.session, now - register.period("address_changes", settings)
    )
    db.session.commit()
    if forgotten or changes:  # at INFO only when it did something
        log.info(
            "retention: %d data request record(s) past %d days erased; %d unconfirmed address "
            "change(s) erased",
            forgotten,
            keep.days,
            changes,
        )
    return forgotten + changes
