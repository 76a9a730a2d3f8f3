"""The delivery engine's vocabulary: message kinds, statuses, and the registry of kinds.

The engine (claim, send, record, retry, reconcile, relay) knows a message only through the
`Kind` registered for its `kind` column: which queue it goes on, whether it may still go and
what it says (decided at send time, not when it was queued), and what its outcome changes in
the area that owns it. Adding a kind of message is registering one; the engine is not edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from invites.core.config import Settings
from invites.core.db import AnySession
from invites.core.tokens import Tokens
from invites.delivery.models import OutboundMessage, Status
from mailer import Outgoing, Renderer
from mailer.classify import Verdict

FINAL = frozenset(Status) - {Status.PENDING, Status.SENDING}


@dataclass(frozen=True)
class Context:
    """What building a message needs from the app."""

    settings: Settings
    tokens: Tokens
    renderer: Renderer


@dataclass(frozen=True)
class Skip:
    """The message must not be sent (final): cancelled or suppressed, and why."""

    status: Status
    reason: str


@dataclass(frozen=True)
class Ready:
    """The message may go now, as built."""

    message: Outgoing


class Kind(Protocol):
    """One kind of outbox message, registered by the product area that owns it.

    The outcome hooks get the message row reloaded in the session that records the outcome,
    which may be a fresh one (the connection that prepared the send can die during it): they
    must find what they change by id, and leave committing to the engine.
    """

    name: str
    #: The RQ queue its delivery jobs go on: the relay, a retry and the reconciler all use it.
    queue: str

    def prepare(self, session: AnySession, msg: OutboundMessage, ctx: Context) -> Skip | Ready:
        """Decide now whether the message may go, and build it; may lock rows until commit."""

    def sent(self, session: AnySession, msg: OutboundMessage, now: datetime, ctx: Context) -> None:
        """The server accepted the message."""

    def failed(
        self,
        session: AnySession,
        msg: OutboundMessage,
        now: datetime,
        ctx: Context,
        verdict: Verdict,
    ) -> None:
        """The server refused the message for good; `verdict.dead_address` says whether dead."""

    def unknown(
        self, session: AnySession, msg: OutboundMessage, now: datetime, ctx: Context
    ) -> None:
        """The message may or may not have been delivered, and will not be sent again."""


class NothingToRecord:
    """Outcome hooks of a kind whose outcome changes nothing outside its own outbox row (the
    row itself records sent, failed or unknown); a kind inherits them and adds `prepare`."""

    def sent(self, session: AnySession, msg: OutboundMessage, now: datetime, ctx: Context) -> None:
        """Nothing else to record."""

    def failed(
        self,
        session: AnySession,
        msg: OutboundMessage,
        now: datetime,
        ctx: Context,
        verdict: Verdict,
    ) -> None:
        """Nothing else to record, and no address suppressed."""

    def unknown(
        self, session: AnySession, msg: OutboundMessage, now: datetime, ctx: Context
    ) -> None:
        """Nothing else to record; never sent again."""


_KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Make a kind known to the engine (each area does this for its own kinds at start-up)."""
    existing = _KINDS.get(kind.name)
    # Each app built in one process registers its kinds again: the same class is fine.
    if existing is not None and type(existing) is not type(kind):
        raise ValueError(f"message kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind
    return kind


def kind_of(name: str) -> Kind | None:
    """The registered kind with this name, if any."""
    return _KINDS.get(name)


def queue_of(name: str, default: str) -> str:
    """The queue a message of this kind goes on (`default` for a kind no longer known)."""
    kind = _KINDS.get(name)
    return kind.queue if kind is not None else default
