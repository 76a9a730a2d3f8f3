"""Read back the local outbox that OutboxTransport writes, for a development mail viewer."""

from __future__ import annotations

import email.policy
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, cast

log = logging.getLogger(__name__)

_ENTRY_ID = re.compile(r"^[A-Za-z0-9._-]+$")
_PARSER = BytesParser(policy=email.policy.default)


@dataclass(frozen=True)
class OutboxEntry:
    """One message in the outbox, as shown in a list."""

    id: str
    date: datetime
    sender: str
    to: str
    subject: str


@dataclass(frozen=True)
class OutboxMessage:
    """One message in the outbox with its headers, decoded bodies and raw bytes."""

    entry: OutboxEntry
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    raw: bytes


def _date(message: EmailMessage, path: Path) -> datetime:
    """Use the Date header, else the file's mtime: a dev viewer should never fail on one file."""
    header: Any = message["Date"]
    when = getattr(header, "datetime", None)
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _entry(path: Path, message: EmailMessage) -> OutboxEntry:
    return OutboxEntry(
        id=path.stem,
        date=_date(message, path),
        sender=str(message["From"] or ""),
        to=str(message["To"] or ""),
        subject=str(message["Subject"] or ""),
    )


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        return str(cast(EmailMessage, part).get_content())
    except (LookupError, ValueError) as exc:
        # An unknown charset or broken encoding should still let the page show the raw mail.
        log.warning("cannot decode text/%s part: %s", subtype, exc)
        return None


def list_outbox(directory: Path | str, limit: int = 200) -> list[OutboxEntry]:
    """List the newest `limit` messages in the outbox, newest first."""
    root = Path(directory)
    if not root.is_dir():
        return []
    # File names start with a UTC timestamp, so name order is send order.
    paths = sorted(
        (p for p in root.glob("*.eml") if not p.name.startswith(".") and p.is_file()),
        key=lambda p: p.name,
        reverse=True,
    )[:limit]
    entries = []
    for path in paths:
        try:
            with path.open("rb") as fh:
                headers = cast(EmailMessage, _PARSER.parse(fh, headersonly=True))
            entries.append(_entry(path, headers))
        except OSError as exc:
            # Removed between listing and reading: skip it.
            log.debug("skipping %s: %s", path.name, exc)
    return entries


def read_outbox(directory: Path | str, entry_id: str) -> OutboxMessage | None:
    """Load one outbox message by id, or None if the id is unknown or points outside."""
    if not _ENTRY_ID.match(entry_id):
        return None
    root = Path(directory).resolve()
    path = (root / f"{entry_id}.eml").resolve()
    # resolve() follows symlinks, so a link pointing elsewhere is refused here too.
    if path.parent != root or not path.is_file():
        return None
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    message = cast(EmailMessage, _PARSER.parsebytes(raw))
    return OutboxMessage(
        entry=_entry(path, message),
        headers=[(name, str(value)) for name, value in message.items()],
        text=_body(message, "plain"),
        html=_body(message, "html"),
        raw=raw,
    )
