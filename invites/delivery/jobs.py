"""RQ job functions. They take ids, reload state, and are safe to run twice."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import or_, select, text, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from invites.core import metrics, queue
from invites.core.db import db, utcnow
from invites.core.mail import renderer, tokens
from invites.core.singletons import per_app
from invites.delivery import kinds as delivery
from invites.delivery import rules
from invites.delivery.kinds import Context, Kind, Ready, Status
from invites.delivery.models import OutboundMessage
from mailer import (
    PermanentError,
    TransientError,
    Transport,
    UnknownOutcome,
    redact,
    transport_from_url,
)

log = logging.getLogger(__name__)

#: A message claimed longer ago than this was interrupted (worker killed mid-send).
STALE_SENDING = timedelta(minutes=10)
#: How long an outcome is retried against a database that lost its connection (seconds).
RECORD_BACKOFF = (0.2, 0.5, 1, 2, 4, 8, 15)


def _transport(app: Flask) -> Transport:
    settings = app.config["SETTINGS"]
    return transport_from_url(
        settings.smtp_url, app.config["OUTBOX_PATH"], timeout=settings.smtp_timeout
    )


#: This process's transport, kept open so consecutive jobs reuse one SMTP session.
transport = per_app("transport", _transport)


def _dead_connection(exc: SQLAlchemyError) -> bool:
    # A dropped or restarting server (or SQLite's busy lock); anything else (a constraint, a
    # bug) won't heal by trying again.
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    )


def _forget_connection() -> None:
    with contextlib.suppress(SQLAlchemyError):
        db.session.rollback()
    db.session.remove()


def _claim(message_id: int, token: str) -> bool:
    """Take the message for this job run: pending → sending, in one UPDATE that waits for disk."""
    for attempt in (1, 2):
        now = utcnow()
        try:
            if db.session.get_bind().dialect.name == "postgresql":
                # Invitations may commit without waiting for the disk
                # (INVITATION_SYNCHRONOUS_COMMIT). This commit waits (rules.DURABLE): WAL is
                # flushed in order, so once it returns, the message's own row is durable too,
                # and no email is ever sent for an invitation a crash could still take back.
                db.session.execute(text(rules.DURABLE_TRANSACTION))
            claimed = db.session.execute(
                update(OutboundMessage)
                .where(
                    OutboundMessage.id == message_id,
                    or_(
                        (OutboundMessage.status == Status.PENDING)
                        & (OutboundMessage.next_attempt_at <= now),
                        # Our own claim, if a dead connection hid whether it committed.
                        (OutboundMessage.status == Status.SENDING)
                        & (OutboundMessage.claim_token == token),
                    ),
                )
                .values(
                    status=Status.SENDING,
                    attempts=OutboundMessage.attempts + 1,
                    claimed_at=now,
                    claim_token=token,
                )
            ).rowcount  # type: ignore[attr-defined]
            db.session.commit()
            return bool(claimed)
        except SQLAlchemyError as exc:
            _forget_connection()
            if attempt == 2 or not _dead_connection(exc):
                raise
    raise AssertionError("unreachable")


def deliver_message(message_id: int) -> str:
    """Send one outbox message if it is still due and still allowed; return what happened."""
    if not _claim(message_id, uuid.uuid4().hex):
        log.info("message %s not due or already handled", message_id)
        return "skipped"
    session = db.session
    msg = session.get(OutboundMessage, message_id)
    assert msg is not None
    kind = delivery.kind_of(msg.kind)
    if kind is None:
        _finish(msg, Status.CANCELLED, f"unknown message kind {msg.kind}")
        return Status.CANCELLED
    settings = current_app.config["SETTINGS"]
    ctx = Context(settings, tokens(), renderer())
    try:
        outcome = kind.prepare(session, msg, ctx)
    except Exception as exc:
        _internal_error(message_id, exc)
        raise
    if not isinstance(outcome, Ready):
        _finish(msg, outcome.status, outcome.reason)
        log.info("message %s %s: %s", message_id, outcome.status, outcome.reason)
        return outcome.status
    try:
        transport().send(outcome.message)
    except TransientError as exc:
        return _transient(kind, ctx, msg, exc)
    except PermanentError as exc:
        verdict = rules.after_permanent(exc)

        def failed(m: OutboundMessage, now: datetime) -> None:
            kind.failed(db.session, m, now, ctx, verdict)

        _record(message_id, Status.FAILED, str(exc), failed)
        log.warning(
            "message %s failed permanently (%s, %s): %s",
            message_id,
            verdict.status,
            verdict.reason,
            exc,
        )
        return Status.FAILED
    except UnknownOutcome as exc:
        _record(
            message_id,
            Status.UNKNOWN,
            str(exc),
            lambda m, now: kind.unknown(db.session, m, now, ctx),
        )
        log.warning("message %s outcome unknown, not resent: %s", message_id, exc)
        return Status.UNKNOWN
    except Exception as exc:
        _internal_error(message_id, exc)
        raise
    message_header = outcome.message.message_id

    def sent(m: OutboundMessage, now: datetime) -> None:
        kind.sent(db.session, m, now, ctx)
        m.sent_at, m.message_id = now, message_header

    _record(message_id, Status.SENT, None, sent)
    log.info("message %s sent", message_id)
    return Status.SENT


#: Applies a send's outcome to the row that owns it (reloaded in the recording session).
Hook = Callable[[OutboundMessage, datetime], None]


def _record(message_id: int, status: Status, reason: str | None, hook: Hook) -> None:
    """Record what the server said; if the database connection died meanwhile, on a fresh one.

    The message has left (or was refused) whatever happens to our connection: losing that
    would leave the row "sending" until the reconciler calls it unknown, the invitation
    holding its address, and the counters short.
    """
    for attempt, pause in enumerate((0.0, *RECORD_BACKOFF)):
        if pause:
            time.sleep(pause)
        try:
            msg = db.session.get(OutboundMessage, message_id)
            if msg is None or msg.status != Status.SENDING:
                db.session.rollback()
                return  # erased meanwhile, or the reconciler already closed it
            now, kind = utcnow(), msg.kind  # read before the commit expires it
            hook(msg, now)
            _set_final(msg, status, reason)
            db.session.commit()
            metrics.outcome(kind, status)
            if attempt:
                log.info("outcome of message %s recorded on a new connection", message_id)
            return
        except SQLAlchemyError as exc:
            _forget_connection()
            if not _dead_connection(exc):
                raise
            log.warning(
                "could not record the outcome of message %s yet: %s",
                message_id,
                type(exc).__name__,
            )
    log.error(
        "outcome %s of message %s not recorded; the reconciler will call it unknown",
        status,
        message_id,
    )


def _set_final(msg: OutboundMessage, status: Status, reason: str | None) -> None:
    """Every final outcome of an outbox message is set here (one place to count them)."""
    # A final state no longer needs a bare recipient address, and no reply text may keep one.
    msg.status, msg.to_email = status, None
    msg.last_error = redact(reason) if reason else None


def _finish(msg: OutboundMessage, status: Status, reason: str | None) -> None:
    _set_final(msg, status, reason)
    db.session.commit()


def _internal_error(message_id: int, exc: Exception) -> None:
    # A bug must not leave the row "sending" forever; record it, and let RQ keep the traceback
    # (the worker redacts addresses from it).
    _forget_connection()
    msg = db.session.get(OutboundMessage, message_id)
    if msg is not None:
        _set_final(msg, Status.FAILED, f"internal error: {type(exc).__name__}: {exc}")
    db.session.commit()


def _transient(kind: Kind, ctx: Context, msg: OutboundMessage, exc: TransientError) -> str:
    then = rules.after_transient(msg.attempts, exc, ctx.settings, utcnow())
    if isinstance(then, rules.GiveUp):
        verdict = then.verdict

        def gave_up(m: OutboundMessage, now: datetime) -> None:
            kind.failed(db.session, m, now, ctx, verdict)

        _record(msg.id, Status.FAILED, then.reason, gave_up)
        log.warning("message %s gave up: %s", msg.id, exc)
        return Status.FAILED
    msg.status, msg.last_error = Status.PENDING, redact(then.reason)
    msg.next_attempt_at = then.at
    db.session.commit()
    queue.enqueue_retry(msg.id, then.delay, kind.queue)
    log.info("message %s will retry in %ss: %s", msg.id, then.delay.total_seconds(), exc)
    return "retry"


def reconcile_outbox() -> int:
    """Re-enqueue outbox rows that no job is known to carry; close interrupted sends."""
    now = utcnow()
    session = db.session
    settings = current_app.config["SETTINGS"]
    ctx = Context(settings, tokens(), renderer())
    # Rows younger than the grace period most likely still have their job in the queue.
    grace = timedelta(seconds=settings.reconcile_grace_seconds)
    # A send interrupted mid-way may have reached the recipient: never resend it (one
    # email per invitee, by law), record it as unknown instead.
    stale = session.scalars(
        select(OutboundMessage)
        .where(
            OutboundMessage.status == Status.SENDING,
            OutboundMessage.claimed_at < now - STALE_SENDING,
        )
        .limit(1000)
        .with_for_update(skip_locked=True)
    ).all()
    for msg in stale:
        kind = delivery.kind_of(msg.kind)
        if kind is not None:
            kind.unknown(session, msg, now, ctx)
        _set_final(msg, Status.UNKNOWN, rules.INTERRUPTED)
    due = session.execute(
        select(OutboundMessage.id, OutboundMessage.kind)
        .where(
            OutboundMessage.status == Status.PENDING,
            OutboundMessage.next_attempt_at <= now - grace,
        )
        .order_by(OutboundMessage.id)
        .limit(5000)
    ).all()
    session.commit()
    by_queue: dict[str, list[int]] = defaultdict(list)
    for message_id, kind_name in due:
        by_queue[delivery.queue_of(kind_name, queue.MAIL_QUEUE)].append(message_id)
    queued = sum(queue.enqueue_deliveries(ids, name) for name, ids in by_queue.items())
    if due or stale:
        log.info(
            "reconciler re-enqueued %d of %d pending message(s), %d interrupted send(s) unknown",
            queued,
            len(due),
            len(stale),
        )
    return queued
