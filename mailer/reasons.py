"""Why mail was not delivered: the reasons, and what status codes say about them."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["BY_CODE", "BY_SUBJECT", "CODE_OF", "DEAD", "STRONG", "Reason"]


class Reason(StrEnum):
    """Why a message was not delivered (the names of sisimai's reasons, in snake case)."""

    USER_UNKNOWN = "user_unknown"
    HOST_UNKNOWN = "host_unknown"
    HAS_MOVED = "has_moved"
    NOT_ACCEPT = "not_accept"  # the domain takes no mail: null MX (RFC 7505)
    MAILBOX_FULL = "mailbox_full"
    SYSTEM_FULL = "system_full"
    MESSAGE_TOO_BIG = "message_too_big"
    EXCEED_LIMIT = "exceed_limit"
    FILTERED = "filtered"
    POLICY = "policy"
    SPAM = "spam"
    BLOCKED = "blocked"  # our sending host's address or reputation
    AUTH_FAILURE = "auth_failure"  # SPF, DKIM, DMARC
    REJECTED = "rejected"  # our sender or envelope refused (e.g. 5.1.8)
    NO_RELAYING = "no_relaying"
    SECURITY_ERROR = "security_error"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    NETWORK_ERROR = "network_error"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    SPEEDING = "speeding"
    SYSTEM_ERROR = "system_error"
    MAILER_ERROR = "mailer_error"
    CONTENT_ERROR = "content_error"
    SYNTAX_ERROR = "syntax_error"
    UNDEFINED = "undefined"


# The reasons that say the address itself is bad (sisimai's hard bounces).
DEAD = frozenset({Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN, Reason.HAS_MOVED, Reason.NOT_ACCEPT})


# RFC 3463 and its registry: "subject.detail" → reason. Those marked strong decide on their own
# once no wording says otherwise; the rest are a fallback.
BY_CODE: dict[str, Reason] = {
    "1.0": Reason.USER_UNKNOWN,
    "1.1": Reason.USER_UNKNOWN,
    "1.2": Reason.HOST_UNKNOWN,
    "1.3": Reason.USER_UNKNOWN,
    "1.4": Reason.FILTERED,
    "1.6": Reason.HAS_MOVED,
    "1.7": Reason.REJECTED,
    "1.8": Reason.REJECTED,
    "1.9": Reason.SYSTEM_ERROR,
    "1.10": Reason.NOT_ACCEPT,
    "2.0": Reason.FILTERED,
    "2.1": Reason.FILTERED,  # "mailbox disabled": a suspended account or a refusing filter
    "2.2": Reason.MAILBOX_FULL,
    "2.3": Reason.EXCEED_LIMIT,
    "2.4": Reason.FILTERED,
    "3.1": Reason.SYSTEM_FULL,
    "3.4": Reason.MESSAGE_TOO_BIG,
    "4.4": Reason.HOST_UNKNOWN,  # unable to route: no such domain, unless wording says DNS trouble
    "4.7": Reason.EXPIRED,
    "5.3": Reason.TOO_MANY_CONNECTIONS,
    "7.13": Reason.SUSPENDED,
    "7.17": Reason.HAS_MOVED,  # mailbox owner has changed
    "7.18": Reason.HAS_MOVED,  # domain owner has changed
    "7.27": Reason.NOT_ACCEPT,
    "7.28": Reason.SPAM,
}
STRONG = frozenset(
    {
        Reason.USER_UNKNOWN,
        Reason.HOST_UNKNOWN,
        Reason.HAS_MOVED,
        Reason.NOT_ACCEPT,
        Reason.MAILBOX_FULL,
        Reason.EXCEED_LIMIT,
        Reason.MESSAGE_TOO_BIG,
        Reason.REJECTED,
        Reason.SUSPENDED,
        Reason.SPAM,
    }
)
BY_SUBJECT = {
    "3": Reason.SYSTEM_ERROR,
    "4": Reason.NETWORK_ERROR,
    "5": Reason.SYNTAX_ERROR,
    "6": Reason.CONTENT_ERROR,
    "7": Reason.SECURITY_ERROR,
}
# For a status derived from wording alone: the code a server would have used.
CODE_OF = {
    Reason.USER_UNKNOWN: "1.1",
    Reason.HOST_UNKNOWN: "1.2",
    Reason.HAS_MOVED: "1.6",
    Reason.NOT_ACCEPT: "1.10",
    Reason.MAILBOX_FULL: "2.2",
    Reason.SUSPENDED: "2.1",
    Reason.EXCEED_LIMIT: "2.3",
    Reason.MESSAGE_TOO_BIG: "3.4",
    Reason.SYSTEM_FULL: "3.1",
    Reason.EXPIRED: "4.7",
    Reason.NO_RELAYING: "7.1",
    Reason.SPAM: "7.1",
    Reason.POLICY: "7.1",
    Reason.BLOCKED: "7.1",
    Reason.AUTH_FAILURE: "7.1",
}
