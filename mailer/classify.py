"""The one classifier of SMTP replies and bounce statuses (interim: the bounce rules' call)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mailer.bounce_rules import classify, pick_status


class Reason(StrEnum):
    """Why a message failed."""

    USER_UNKNOWN = "user_unknown"
    UNDEFINED = "undefined"


@dataclass(frozen=True)
class Verdict:
    """What a failure says: its status, why, whether final, whether the address is dead."""

    status: str | None
    reason: Reason
    permanent: bool
    dead_address: bool


def classify_reply(code: int | None, text: str | None) -> Verdict:
    """Classify one SMTP reply our own transport got."""
    klass = str(code)[0] if code else None
    status = pick_status(None, f"{code or ''} {text or ''}", klass)
    dead = classify(status, "failed", text) == "hard"
    reason = Reason.USER_UNKNOWN if dead else Reason.UNDEFINED
    return Verdict(status, reason, bool(code and code >= 500), dead)
