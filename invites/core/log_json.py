"""`LOG_FORMAT=json`: one JSON object per line, for a log collector to parse.

Fields: `time` (UTC, RFC 3339), `level`, `logger`, `message`, and where they apply `job_id`
(the RQ job the line was logged in), `request_id` and `path` (the web request), `exc` (a
traceback, inside the one line). Addresses are redacted as in text logs, field by field.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from mailer import redact

#: Terminal colours that RQ and Werkzeug add to some messages: noise in a collector.
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def _clean(text: str) -> str:
    return redact(_COLOUR.sub("", text), 20_000)


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on one line."""
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _clean(record.getMessage()),
        }
        for name in ("job_id", "request_id", "path"):
            value = getattr(record, name, None)
            if value:
                entry[name] = str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = _clean(record.exc_text)
        if record.stack_info:
            entry["stack"] = _clean(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)
