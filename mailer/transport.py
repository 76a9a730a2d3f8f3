"""Deliver composed messages: over SMTP, or into a local outbox directory in development."""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import ssl
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, Self
from urllib.parse import parse_qs, unquote, urlsplit

from mailer.compose import Outgoing
from mailer.errors import MailError, PermanentError, TransientError, UnknownOutcome
from mailer.headers import check_addr_spec

log = logging.getLogger(__name__)

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# A peer that closed an idle connection shows up as one of these on the next command.
_STALE = (smtplib.SMTPServerDisconnected, ConnectionError)


#: Called once the receiver has accepted the envelope and before any of the content is
#: handed over: True goes on, False withdraws the message (nothing is delivered).
Ready = Callable[[], bool]
#: Called while the receiver works on a message that has been handed over, before its reply
#: is read: the sender's chance to prepare the next one. It may return that next message, to
#: be announced: see SMTPTransport.send. It must not raise.
Meanwhile = Callable[[], Outgoing | None]


class Transport(Protocol):
    """Something that delivers one message at a time."""

    def send(
        self,
        message: Outgoing,
        *,
        ready: Ready | None = None,
        meanwhile: Meanwhile | None = None,
    ) -> bool:
        """Deliver `message` (False if `ready` withdrew it); raise TransientError,
        PermanentError or UnknownOutcome."""

    def withdraw(self) -> None:
        """The message last announced by `meanwhile` will not follow: end its transaction."""

    def close(self) -> None:
        """Release any connection held open between sends."""

    def __enter__(self) -> Self:
        """Return the transport itself."""

    def __exit__(self, *exc_info: object) -> None:
        """Close the transport."""


class _Closing:
    """Context-manager behaviour shared by the transports."""

    def withdraw(self) -> None:
        """Nothing is ever announced ahead by default."""

    def close(self) -> None:
        """Release resources; nothing to do by default."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _decode(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def _by_code(code: int, text: bytes | str) -> MailError:
    """A definitive reply: 5xx will never succeed, anything else may later."""
    cls = PermanentError if code >= 500 else TransientError
    return cls(_decode(text), code)


def _dot_stuffed(data: bytes) -> bytes:
    """A line starting with "." gets a second one (RFC 5321 4.5.2), as smtplib.data() does.

    bytes.replace rather than a multiline regex: the same lines (the composer ends each with
    CRLF, so a line starts after an LF), at C speed over a whole message."""
    stuffed = data.replace(b"\n.", b"\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


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
        #: A message whose MAIL, RCPT and DATA were written behind the previous one's content
        #: and whose replies are unread (see `send`).
        self._announced: Outgoing | None = None

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
            if conn.sock is not None:
                # Every write is a whole command group, so Nagle's algorithm would only hold
                # an announced envelope back until the content before it is acknowledged.
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
        self._announced = None
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

    def send(
        self,
        message: Outgoing,
        *,
        ready: Ready | None = None,
        meanwhile: Meanwhile | None = None,
    ) -> bool:
        """Deliver one message; raise TransientError, PermanentError or UnknownOutcome.

        The envelope (MAIL and RCPT, in one round trip where the server offers PIPELINING),
        then DATA, are driven so that every failure is known to have happened before or
        after the message was handed over. Before: nothing was delivered,
        and a reused session that turned out dead is replaced once. After the final dot, a
        reply that never comes makes the outcome unknown: never sent again from here.

        `ready` runs between RCPT and DATA: a caller that writes "this one is leaving" ahead
        of the message waits for that write there, so it overlaps the envelope's round trips
        yet is done before a byte of content leaves. If it says no, or raises, the
        transaction is ended and nothing is delivered. `meanwhile` runs after the final dot
        while the receiver takes the message in.

        If `meanwhile` returns the next message and the server offers PIPELINING, that
        message is *announced*: its MAIL, RCPT and DATA are written at once, behind this
        content (RFC 2920 lets a message's content start a group of commands), so the server
        takes in the next envelope while the caller records this outcome. `send` of that same
        message then only reads their replies. An announced message delivers nothing until
        its content follows: `withdraw` (or sending another message) ends it by closing the
        session, the one way out of DATA without a final dot.
        """
        announced = self._announced is message
        if self._announced is not None and not announced:
            self._drop()  # the one announced is not coming after all
        self._announced = None  # its replies are read now
        reused = self._conn is not None
        conn = self._conn if self._conn is not None else self._connect()
        try:
            in_data = self._envelope(conn, message, written=announced)
        except _STALE as exc:
            self._drop()
            if not reused:
                raise TransientError(f"connection lost: {exc or type(exc).__name__}") from exc
            # Servers close idle sessions; nothing of this message reached that one.
            log.info("SMTP session to %s had been dropped; reconnecting", self.host)
            conn = self._connect()
            try:
                in_data = self._envelope(conn, message)
            except _STALE as again:
                self._drop()
                raise TransientError(f"connection lost: {again}") from again
        if ready is not None:
            try:
                go = ready()
            except BaseException:
                self._end(in_data)
                raise
            if not go:
                self._end(in_data)
                return False
        self._data(conn, message, meanwhile, in_data)
        log.debug("sent %s via %s", message.message_id, self.host)
        return True

    def withdraw(self) -> None:
        """The message last announced will not follow: close the session it waits on."""
        if self._announced is not None:
            self._drop()

    def _end(self, in_data: bool) -> None:
        """End a transaction whose content will not follow (nothing is delivered)."""
        if in_data:
            self._drop()  # after 354 only a final dot ends DATA: close instead
        else:
            self._reset()

    def _envelope(self, conn: smtplib.SMTP, message: Outgoing, *, written: bool = False) -> bool:
        """MAIL FROM and RCPT TO, and DATA if `written` (announced); a refusal ends the
        transaction. True once DATA was accepted too (354: content must follow)."""
        # The commands are written here rather than by smtplib's mail() and rcpt(), which
        # parse each address again as a header would be (a tenth of a campaign's CPU): the
        # composer has already checked both as ASCII addr-specs, and the check is repeated
        # because a CR or LF here would be a command of its own.
        sender = check_addr_spec("envelope sender", message.sender)
        recipient = check_addr_spec("envelope recipient", message.recipient)
        try:
            conn.ehlo_or_helo_if_needed()
            if written:
                replies = [conn.getreply(), conn.getreply(), conn.getreply()]
            elif conn.has_extn("pipelining"):
                # RFC 2920: both commands in one write, both replies read in order, so the
                # envelope costs one round trip instead of two (every large relay offers
                # it; smtplib never uses it). A refused MAIL makes the server refuse the
                # RCPT too (503), and both replies are read before acting on either, so
                # the session stays in step for the RSET and the next message.
                conn.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\n")
                replies = [conn.getreply(), conn.getreply()]
            else:
                conn.putcmd("mail", f"FROM:<{sender}>")
                replies = [conn.getreply()]
                if replies[0][0] == 250:
                    conn.putcmd("rcpt", f"TO:<{recipient}>")
                    replies.append(conn.getreply())
            in_data = written and replies[2][0] == 354
            expected = ((250,), (250, 251), (354,))
            for (code, text), accepted in zip(replies, expected, strict=False):
                if code not in accepted:
                    # A server that refused the envelope yet said 354 to DATA waits for
                    # content: closing is the one way out that delivers nothing.
                    self._end(in_data)
                    raise _by_code(code, text)
            return in_data
        except MailError:
            raise
        except _STALE:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            # Timeouts and socket errors leave the session in an unknown state; but no
            # message was handed over yet, so the next attempt may send it.
            self._drop()
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc

    def _announce(self, conn: smtplib.SMTP, message: Outgoing) -> None:
        """Write the next message's MAIL, RCPT and DATA now; their replies are read by its
        `send`. A failure here is that message's, found when it is sent: never this one's."""
        try:
            sender = check_addr_spec("envelope sender", message.sender)
            recipient = check_addr_spec("envelope recipient", message.recipient)
            conn.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n")
        except (ValueError, smtplib.SMTPException, OSError):
            return  # sent the usual way, or its error raised, when its turn comes
        self._announced = message

    def _data(
        self,
        conn: smtplib.SMTP,
        message: Outgoing,
        meanwhile: Meanwhile | None,
        in_data: bool = False,
    ) -> None:
        """DATA (unless already accepted), the content and the final dot, then the reply
        that decides the outcome."""
        try:
            if not in_data:
                code, text = conn.docmd("DATA")
                if code != 354:
                    self._reset()
                    raise _by_code(code, text)
            payload = _dot_stuffed(message.data)
            if not payload.endswith(b"\r\n"):
                payload += b"\r\n"
            # sendall either writes everything, final dot included, or raises before the
            # final dot left: until then the server can't have accepted the message.
            conn.send(payload + b".\r\n")
        except MailError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise TransientError(f"connection lost before the message was sent: {exc}") from exc
        if meanwhile is not None:
            following = meanwhile()
            if following is not None and conn.has_extn("pipelining"):
                self._announce(conn, following)
        try:
            code, text = conn.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            # smtplib reports a read timeout as SMTPServerDisconnected too: either way the
            # server has the whole message and may have queued it.
            self._drop()
            raise UnknownOutcome(
                f"no reply after the message was sent ({exc or type(exc).__name__}); "
                "it may have been delivered"
            ) from exc
        if code != 250:
            # The transaction is over either way; one announced behind it is dropped with
            # the session (an RSET now would be answered after its replies).
            if self._announced is not None:
                self._drop()
            else:
                self._reset()
            raise _by_code(code, text)

    def close(self) -> None:
        """Say QUIT and close the session, if one is open."""
        if self._conn is None:
            return
        if self._announced is not None:
            self._drop()  # in DATA, QUIT would be content: close without a final dot
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

    def _filename(self, message: Outgoing) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
        msgid = message.message_id.strip("<>").split("@")[0]
        short = _UNSAFE_ID_CHARS.sub("", msgid)[-16:].strip(".") or os.urandom(4).hex()
        return f"{stamp}-{short}.eml"

    def send(
        self,
        message: Outgoing,
        *,
        ready: Ready | None = None,
        meanwhile: Meanwhile | None = None,
    ) -> bool:
        """Write the message atomically so a reader never sees half a file."""
        if ready is not None and not ready():
            return False
        data = message.data
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
        if meanwhile is not None:
            meanwhile()
        return True


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
