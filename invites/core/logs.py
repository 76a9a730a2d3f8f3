"""Logging set-up: every record, from our code or a library's, leaves without an address."""

from __future__ import annotations

import logging
from typing import Any

from rq import get_current_job

from mailer import redact

#: Long enough for a traceback; a longer message is cut, which a log line can afford.
_LIMIT = 20_000
_installed = False


def _redacting_factory(previous: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = previous(*args, **kwargs)
        record.job = _job_tag()
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return record  # a malformed call: logging reports it when the record is emitted
        if "@" in message:
            # Formatted once here, so no handler, formatter or library can print the address.
            record.msg, record.args = redact(message, _LIMIT), None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text, _LIMIT) if "@" in text else text
        return record

    return factory


def _job_tag() -> str:
    # Every line a job logs names the job, whoever wrote the line (our code or a library's).
    job = get_current_job()
    return f"[job {job.id}] " if job is not None else ""


def init_app(level: int = logging.INFO) -> None:
    """Configure the root logger once per process, with address redaction on every record."""
    global _installed
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(job)s%(message)s")
    # Alembic announces every autogenerate plugin at INFO on each start; keep the log readable.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if not _installed:
        logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))
        _installed = True
