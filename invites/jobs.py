"""RQ job functions. They take ids, reload state, and are safe to run twice."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from flask import Flask, current_app
from rq import get_current_job
from sqlalchemy import select, text, update

from mailer import PermanentError, TransientError, Transport, transport_from_url

from . import delivery, invitations, queue
from .db import db, utcnow
from .emails import renderer, tokens
from .models import OutboundMessage

log = logging.getLogger(__name__)

#: A message claimed longer ago than this was interrupted (worker killed mid-send).
STALE_SENDING = timedelta(minutes=10)
_DEAD_ADDRESS = re.compile(r"\b5\.1\.\d+\b|\b55[013]\b")


def _job_tag() -> str:
    job = get_current_job()
    return f"[job {job.id}] " if job else ""


def transport(app: Flask | None = None) -> Transport:
    """Return this process's transport, kept open so consecutive jobs reuse one SMTP session."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("spotcam_transport")
    if found is None:
        found = transport_from_url(
            app.config["SMTP_URL"], app.config["OUTBOX_PATH"], timeout=app.config["SMTP_TIMEOUT"]
        )
        app.extensions["spotcam_transport"] = found
    return found


def _claim(message_id: int) -> bool:
    now = utcnow()
    if db.session.get_bind().dialect.name == "postgresql":
        # Invitations may commit without waiting for the disk (INVITATION_SYNCHRONOUS_COMMIT).
        # This commit waits, whatever the server's default: WAL is flushed in order, so once
        # it returns, the message's own row is durable too, and no email is ever sent for an
        # invitation a crash could still take back.
        db.session.execute(text("SET LOCAL synchronous_commit = on"))
    # One UPDATE decides which worker owns the send; a duplicate job finds nothing to claim.
    claimed = db.session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.id == message_id,
            OutboundMessage.status == "pending",
            OutboundMessage.next_attempt_at <= now,
        )
        .values(status="sending", attempts=OutboundMessage.attempts + 1, claimed_at=now)
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    return bool(claimed)


def deliver_message(message_id: int) -> str:
    """Send one outbox message if it is still due and still allowed; return what happened."""
    tag = _job_tag()
    if not _claim(message_id):
        log.info("%smessage %s not due or already handled", tag, message_id)
        return "skipped"
    session = db.session
    msg = session.get(OutboundMessage, message_id)
    assert msg is not None
    settings = current_app.config["SETTINGS"]
    try:
        outcome = delivery.prepare(session, msg, settings, tokens(), renderer())
    except Exception as exc:
        _internal_error(message_id, exc)
        raise
    if isinstance(outcome, delivery.Skip):
        _finish(msg, outcome.status, outcome.reason)
        log.info("%smessage %s %s: %s", tag, message_id, outcome.status, outcome.reason)
        return outcome.status
    try:
        transport().send(outcome.email)
    except TransientError as exc:
        return _transient(msg, exc, settings.max_send_attempts, settings.retry_base_seconds, tag)
    except PermanentError as exc:
        outcome.bounced(utcnow(), bool(_DEAD_ADDRESS.search(str(exc))))
        _finish(msg, "failed", str(exc))
        log.warning("%smessage %s failed permanently: %s", tag, message_id, exc)
        return "failed"
    except Exception as exc:
        _internal_error(message_id, exc)
        raise
    now = utcnow()
    outcome.sent(now)
    msg.sent_at, msg.message_id = now, str(outcome.email["Message-ID"])
    _finish(msg, "sent", None)
    log.info("%smessage %s sent", tag, message_id)
    return "sent"


def _internal_error(message_id: int, exc: Exception) -> None:
    # A bug must not leave the row "sending" forever; record it, and let RQ keep the traceback.
    db.session.rollback()
    db.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == message_id)
        .values(status="failed", to_email=None, last_error=f"internal error: {exc!r}"[:1000])
    )
    db.session.commit()


def _finish(msg: OutboundMessage, status: str, reason: str | None) -> None:
    # A final state no longer needs a bare recipient address.
    msg.status, msg.to_email = status, None
    msg.last_error = reason[:1000] if reason else None
    db.session.commit()


def _transient(msg: OutboundMessage, exc: Exception, max_attempts: int, base: int, tag: str) -> str:
    if msg.attempts >= max_attempts:
        msg.status, msg.last_error = (
            "failed",
            f"gave up after {msg.attempts} attempts: {exc}"[:1000],
        )
        db.session.commit()
        log.warning("%smessage %s gave up: %s", tag, msg.id, exc)
        return "failed"
    delay = timedelta(seconds=base * 2 ** (msg.attempts - 1))
    msg.status, msg.last_error = "pending", str(exc)[:1000]
    msg.next_attempt_at = utcnow() + delay
    db.session.commit()
    queue.enqueue_retry(msg.id, delay)
    log.info("%smessage %s will retry in %ss: %s", tag, msg.id, delay.total_seconds(), exc)
    return "retry"


def reconcile_outbox() -> int:
    """Re-enqueue outbox rows that no job is known to carry; close interrupted sends."""
    now = utcnow()
    session = db.session
    # Rows younger than the grace period most likely still have their job in the queue.
    grace = timedelta(seconds=current_app.config["SETTINGS"].reconcile_grace_seconds)
    # A send interrupted mid-way may have reached the recipient: never resend an invitation
    # (one email per invitee, by law), record it instead.
    session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.status == "sending", OutboundMessage.claimed_at < now - STALE_SENDING
        )
        .values(status="failed", last_error="interrupted during delivery; not resent")
    )
    due = session.scalars(
        select(OutboundMessage.id)
        .where(
            OutboundMessage.status == "pending",
            OutboundMessage.next_attempt_at <= now - grace,
        )
        .order_by(OutboundMessage.id)
        .limit(5000)
    ).all()
    session.commit()
    queued = queue.enqueue_deliveries(due)
    if due:
        log.info(
            "%sreconciler re-enqueued %d of %d pending message(s)", _job_tag(), queued, len(due)
        )
    return queued


def expire_invitations() -> int:
    """Erase the addresses of invitations past their window (scheduled)."""
    expired = invitations.expire(db.session, current_app.config["SETTINGS"], utcnow())
    db.session.commit()
    log.info("%sexpired %d invitation(s)", _job_tag(), expired)
    return expired


def housekeeping() -> int:
    """Forget old Idempotency-Key answers and passed soft-bounce windows (scheduled)."""
    from .api.idempotency import purge
    from .bounce_events import forget_old_windows

    forgotten = purge(db.session) + forget_old_windows(
        db.session, current_app.config["SETTINGS"], utcnow()
    )
    db.session.commit()
    return forgotten
