"""Logging set-up: every record, from our code or a library's, leaves without an address.

Each record also says where it came from: the RQ job it was logged in, or the web request
(its id and path). `LOG_FORMAT=json` writes them as one JSON object per line (log_json.py);
the periodic jobs' routine lines stay out of the INFO log (log_quiet.py).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from rq import get_current_job

from invites.core import log_json, log_quiet
from mailer import redact

#: Long enough for a traceback; a longer message is cut, which a log line can afford.
_LIMIT = 20_000
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(job)s%(message)s"
#: A request id a caller may send (X-Request-ID) and we keep: short, and never an address.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_installed = False


def _redacting_factory(previous: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = previous(*args, **kwargs)
        _tag(record)
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


def _tag(record: logging.LogRecord) -> None:
    # Every line a job logs names the job, whoever wrote the line (our code or a library's);
    # every line logged while a request is handled names the request.
    job = get_current_job()
    record.job_id = job.id if job is not None else None
    record.job = f"[job {job.id}] " if job is not None else ""
    record.request_id = record.path = None
    if has_request_context():
        record.request_id = g.get("request_id")
        # User ids may hold an "@" (the API allows it in paths): redacted like any text.
        record.path = redact(request.path, 500)


def _start_request() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _name_response(response: Response) -> Response:
    # The caller can quote it, and the operator find every line of that request.
    if "request_id" in g:
        response.headers["X-Request-ID"] = g.request_id
    return response


def init_app(app: Flask | None = None, level: int = logging.INFO) -> None:
    """Configure the root logger once per process; name each request; redact every record.

    The first app of a process decides the format (`LOG_FORMAT`); a process whose root
    logger already has a handler (pytest's, gunicorn's) keeps it.
    """
    global _installed
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        json_lines = app is not None and app.config["SETTINGS"].log_format == "json"
        formatter = log_json.JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT)
        handler.setFormatter(formatter)
        root.addHandler(handler)
        root.setLevel(level)
    # Alembic announces every autogenerate plugin at INFO on each start; keep the log readable.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if not _installed:
        logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))
        log_quiet.install()
        _installed = True
    if app is not None:
        app.before_request(_start_request)
        app.after_request(_name_response)
