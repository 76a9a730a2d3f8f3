"""Deliver composed messages: over SMTP, or into a local outbox directory in development."""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol, Self
from urllib.parse import parse_qs, unquote, urlsplit

from mailer.compose import message_bytes
from mailer.errors import MailError, PermanentError, TransientError

log = logging.getLogger(__name__)

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# A peer that closed an idle connection shows up as one of these on the next command.
_STALE = (smtplib.SMTPServerDisconnected, ConnectionError)


class Transport(Protocol):
    """Something that delivers one message at a time."""

    def send(self, message: EmailMessage) -> None:
        """Deliver `message`; raise TransientError or PermanentError on failure."""

    def close(self) -> None:
        """Release any connection held open between sends."""

    def __enter__(self) -> Self:
        """Return the transport itself."""

    def __exit__(self, *exc_info: object) -> None:
        """Close the transport."""


class _Closing:
    """Context-manager behaviour shared by the transports."""

    def close(self) -> None:
        """Release resources; nothing to do by default."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _envelope(message: EmailMessage, field: str) -> str:
    """Return the single address in header `field`, for the SMTP envelope."""
    header: Any = message[field]
    if header is None:
        raise ValueError(f"message has no {field} header")
    addresses = getattr(header, "addresses", None)
    if addresses is not None:
        if len(addresses) != 1:
            raise ValueError(f"{field} must hold exactly one address for a one-recipient send")
        return str(addresses[0].addr_spec)
    address = parseaddr(str(header))[1]
    if not address:
        raise ValueError(f"{field} header has no address")
    return address


def _decode(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def _by_code(code: int, text: bytes | str) -> MailError:
    """Classify an SMTP reply: 5xx will never succeed, anything else may later."""
    cls = PermanentError if code >= 500 else TransientError
    return cls(_decode(text), code)


class SMTPTransport(_Closing):
    """Send over one reused SMTP session; not thread-safe, use one per worker."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        implicit_tls: bool = False,
        starttls: bool = False,
        timeout: float = 30.0,
        local_hostname: str | None = None,
    ) -> None:
        if implicit_tls and starttls:
            raise ValueError("choose implicit TLS or STARTTLS, not both")
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.implicit_tls = implicit_tls
        self.starttls = starttls
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._conn: smtplib.SMTP | None = None

    def __repr__(self) -> str:
        return f"SMTPTransport({self.host!r}, {self.port})"

    def _connect(self) -> smtplib.SMTP:
        """Open, secure and authenticate a session; every failure here is transient."""
        conn: smtplib.SMTP | None = None
        try:
            if self.implicit_tls:
                conn = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                conn = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
            if self.starttls:
                conn.starttls(context=ssl.create_default_context())
                conn.ehlo()
            if self.username:
                conn.login(self.username, self._password or "")
            conn.ehlo_or_helo_if_needed()
        except (smtplib.SMTPException, OSError) as exc:
            if conn is not None:
                conn.close()
            # Even a 5xx here (bad credentials, greeting refused) is about our setup, not the
            # message: failing it permanently would drop mail that a fixed config would deliver.
            code = getattr(exc, "smtp_code", None)
            text = _decode(getattr(exc, "smtp_error", b"")) or str(exc) or type(exc).__name__
            error = TransientError(f"cannot connect to {self.host}:{self.port}: {text}", code)
            log.warning("%s", error)
            raise error from exc
        log.debug("opened SMTP session to %s:%s", self.host, self.port)
        self._conn = conn
        return conn

    def _drop(self) -> None:
        """Forget a connection that is no longer usable."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _reset(self) -> None:
        """End a failed transaction so the session can carry the next message."""
        if self._conn is None:
            return
        try:
            self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def send(self, message: EmailMessage) -> None:
        """Send one message to its single To address, reconnecting once if the session died."""
        sender = _envelope(message, "From")
        recipient = _envelope(message, "To")
        data = message_bytes(message)
        for attempt in (1, 2):
            conn = self._conn if self._conn is not None else self._connect()
            # compose() emits 8bit UTF-8 bodies; declaring them is what RFC 6152 asks for.
            options = ["BODY=8BITMIME"] if not data.isascii() and conn.has_extn("8bitmime") else []
            try:
                refused = conn.sendmail(sender, [recipient], data, mail_options=options)
            except _STALE as exc:
                self._drop()
                if attempt == 1:
                    log.info("SMTP session to %s dropped (%s); reconnecting", self.host, exc)
                    continue
                raise TransientError(f"connection lost: {exc or type(exc).__name__}") from exc
            except smtplib.SMTPRecipientsRefused as exc:
                self._reset()
                code, text = next(iter(exc.recipients.values()))
                raise _by_code(code, text) from exc
            except smtplib.SMTPResponseException as exc:
                self._reset()
                raise _by_code(exc.smtp_code, exc.smtp_error) from exc
            except (smtplib.SMTPException, OSError) as exc:
                # Timeouts and socket errors leave the session in an unknown state.
                self._drop()
                raise TransientError(f"{type(exc).__name__}: {exc}") from exc
            if refused:
                # sendmail reports partial refusals instead of raising; with one recipient
                # this shouldn't happen, but a refusal must never be counted as sent.
                self._reset()
                code, text = next(iter(refused.values()))
                raise _by_code(code, text)
            log.debug("sent %s via %s", message["Message-ID"], self.host)
            return

    def close(self) -> None:
        """Say QUIT and close the session, if one is open."""
        if self._conn is None:
            return
        try:
            self._conn.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self._drop()


class OutboxTransport(_Closing):
    """Write each message as an .eml file into a directory instead of sending it."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"OutboxTransport({str(self.directory)!r})"

    def _filename(self, message: EmailMessage) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
        msgid = str(message["Message-ID"] or "").strip("<>").split("@")[0]
        short = _UNSAFE_ID_CHARS.sub("", msgid)[-16:].strip(".") or os.urandom(4).hex()
        return f"{stamp}-{short}.eml"

    def send(self, message: EmailMessage) -> None:
        """Write the message atomically so a reader never sees half a file."""
        data = message_bytes(message)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            target = self.directory / self._filename(message)
            with tempfile.NamedTemporaryFile(
                dir=self.directory, prefix=".", suffix=".tmp", delete=False
            ) as tmp:
                tmp.write(data)
            os.replace(tmp.name, target)
        except OSError as exc:
            raise TransientError(f"cannot write to outbox {self.directory}: {exc}") from exc
        log.info("wrote %s to the outbox", target.name)


def _flag(query: dict[str, list[str]], name: str) -> bool:
    value = query.pop(name, ["false"])[-1].lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"mail URL parameter {name}={value!r} is not a boolean")


def transport_from_url(
    url: str | None, outbox_dir: Path | str, *, timeout: float = 30.0
) -> Transport:
    """Build a transport from smtp://, smtps:// or nothing (the local outbox)."""
    if not url:
        return OutboxTransport(outbox_dir)
    parts = urlsplit(url)
    # Never echo the URL itself: it may carry a password.
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ValueError(
            f"unsupported mail URL scheme {parts.scheme!r}: use smtp://, smtps:// or leave it empty"
        )
    if not parts.hostname:
        raise ValueError("mail URL has no host: expected smtp://user:pass@host:port")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("mail URL has an invalid port") from exc
    query = parse_qs(parts.query, keep_blank_values=True)
    starttls = _flag(query, "starttls")
    if query:
        raise ValueError(f"unknown mail URL parameter(s): {', '.join(sorted(query))}")
    implicit_tls = scheme == "smtps"
    if implicit_tls and starttls:
        raise ValueError("smtps:// already uses TLS; starttls=true applies to smtp:// only")
    return SMTPTransport(
        parts.hostname,
        port or (465 if implicit_tls else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        implicit_tls=implicit_tls,
        starttls=starttls,
        timeout=timeout,
        local_hostname=None,
    )
