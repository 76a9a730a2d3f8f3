"""What servers write when they refuse mail, grouped by the reason it gives.

The patterns run on lower-cased text with runs of whitespace collapsed, capped in length by the
caller. Each is an alternation of phrases with bounded gaps, so matching stays linear.
"""

from __future__ import annotations

import re

_WORD = r"[^ ]{1,64}"  # one word of bounded length, for "doesn't have a <domain> account"


def _any(*phrases: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in phrases))


# The recipient's own mailbox can't take more now. Checked first: a 5.1.1 that says "over
# quota" is a full mailbox behind a sloppy code.
MAILBOX_FULL = _any(
    r"mailbox (?:is |was )?full",
    r"full mailbox|mailfolder is full|mailbox size limit",
    r"over (?:the |its |his |her |their |disk |mailbox )?(?:allowed )?quota",
    r"quota (?:exceeded|violation|usage exceeded|is full)",
    r"exceed(?:s|ed|ing)? (?:the |its |his |her |their |your )?(?:storage|mailbox|disk|quota)",
    r"(?:mailbox|account|user|recipient)\b.{0,40}\b(?:over|exceeded|reached) (?:its |the )?"
    r"(?:quota|storage|disk|limit)",
    r"does not have enough space|not enough storage space in|space has been used up",
    r"too many messages (?:on the server|in (?:the|this) mailbox)",
)
# The receiving system itself is short of space: the mailbox may be fine.
SYSTEM_FULL = _any(
    r"insufficient (?:system |disk )?(?:space|storage)",
    r"not enough (?:disk |system )?space|no space left on device|mail system (?:is )?full",
)
MESSAGE_TOO_BIG = _any(
    r"message (?:is |was )?too (?:big|large)|message size exceeds|size exceeds",
    r"exceeds (?:the )?(?:fixed |maximum |max |allowed )+(?:message )?size",
    r"message (?:length|size) (?:exceeds|is over|limit)",
)
# A local delivery program (procmail, a pipe) failed: the host's trouble, not the address's.
MAILER_ERROR = _any(
    r"procmail|maildrop|command died with status|command failed:|command output:",
    r"pipe to \||mailer error|\|\| exit |x-unix;",
)
HAS_MOVED = _any(
    r"has been replaced by",
    r"(?:address|mailbox|account) has (?:moved|changed)",
    r"no forwarding address",
)
# The domain publishes that it takes no mail at all (RFC 7505 null MX), or has nowhere to take it.
NOT_ACCEPT = _any(
    r"null ?mx|does not accept (?:any )?mail \(",
    r"(?:host|domain|host/domain) does not accept (?:any )?mail",
    r"no mx record (?:found )?for domain|couldn'?t find a mail exchanger",
    r"indicated no smtp service|mail receiving disabled",
)
NO_RELAYING = _any(
    r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited|not allowed)",
    r"not (?:permitted|allowed|authorized) to relay|unable to relay|as a relay",
    r"not an open relay|we do not relay|no relaying|relaying mail to .{1,64} is not",
)
# Refusals about *our* sender or envelope: the recipient's address is not in question.
REJECTED = _any(
    r"sender (?:address |domain |e-?mail address )?(?:rejected|refused|denied|is invalid|not "
    r"allowed|blocked)",
    r"sender verif(?:y|ication) (?:failed|failure)|invalid sender|unroutable sender",
    r"domain of sender address|sender domain (?:must exist|does not exist|not found|is empty)",
    r"mail from.{0,64}(?:rejected|refused|not owned)|bogus mail from|null sender",
    r"empty envelope sender|batv|backscatter|returned mail not accepted",
    r"administrative prohibition",
)
AUTH_FAILURE = _any(
    r"\bdmarc\b|\bspf\b|\bdkim\b|sender policy framework",
    r"unauthenticated (?:e-?mail|mail|sender)|not pass(?:ed)? (?:authentication|validation)",
)
# The sending host's address or reputation, before any content was seen.
BLOCKED = _any(
    r"spamhaus|spamcop|barracuda|sorbs|\bdnsbl\b|\brbl\b|blocked using",
    r"black ?list|block ?list|blocked by .{1,64}(?:list|reputation)",
    r"client host .{0,64}(?:rejected|blocked)|helo command rejected",
    r"(?:your|sending|sender) ip\b|ip address .{0,64}(?:blocked|listed|rejected|not allowed)",
    r"reputation|dynamic ip|residential ip|reverse dns|\bptr\b",
    r"connection refused|not allowed to connect|not currently accepting mail from your",
)
SPAM = _any(
    r"spam|unsolicited|bulk (?:e-?)?mail|junk mail|uribl|surbl",
    r"content (?:filter|rejected)|message content|banned content|virus|malware|phishing",
)
POLICY = _any(
    r"\bpolicy\b|policies|prohibited|protocol violation",
    r"closed (?:mailing )?list|members-only|non-?member|not subscribed",
    r"attachment|header (?:error|are not accepted)|organizational settings",
)
SUSPENDED = _any(
    r"suspended|\bdisabled\b|deactivated|inactive|frozen|\blocked\b|archived",
    r"no longer accepts mail|is terminated|discontinued",
)
# The recipient (or a filter acting for them) refused this sender or this message.
FILTERED = _any(
    r"filtered|user reject|refuses? to (?:receive|accept)|refused due to recipient",
    r"recipient preferences|user rules|blocked by the recipient|only accepting mail from",
    r"is not accepting (?:any )?mail|resolver\.rst\.notauthorized|not authorized to send",
)
TOO_MANY_CONNECTIONS = _any(
    r"too many (?:connections|concurrent|sessions|recipients|simultaneous)",
    r"connection limit|concurrent connections",
)
SPEEDING = _any(
    r"rate limit|rate-limit|ratelimit|too (?:quickly|fast)|too many (?:messages|mails|emails)",
    r"receiving mail at a rate|exceeded .{0,32}(?:sending|message) limit",
)
EXPIRED = _any(
    r"expired|too long in (?:the )?queue|queue (?:lifetime|period)",
    r"could not be delivered for .{1,20} days|retry timeout exceeded|message timed out",
    r"delivery attempts will continue",
)
# Transient lookup or transport trouble: says nothing about whether the address exists.
NETWORK_ERROR = _any(
    r"malformed (?:or unexpected )?name server reply|dns (?:lookup )?fail|lookup failure",
    r"no route to host|network is unreachable|host is unreachable|unreachable host",
    r"connection (?:reset|timed out|dropped|closed|lost)|lost connection|timed? ?out",
    r"routing loop|mail loop|forwarding loop|loops back to myself|too many hops|hop count",
    r"protocol error",
)
SYSTEM_ERROR = _any(
    r"configuration error|config error|misconfigured|internal (?:server )?error",
    r"local (?:error|problem)|queue file write error|service (?:currently )?unavailable",
    r"system error|interrupted system call",
)
SECURITY_ERROR = _any(
    r"(?<!rejected: )access denied",
    r"authentication (?:required|failed|failure)|starttls|tls required|encryption (?:is )?"
    r"required|must (?:use|issue) (?:a )?(?:starttls|tls)",
)

# Wording that makes an unknown host a passing DNS failure rather than a missing domain.
TRANSIENT = _any(
    r"not found, try again|try again later|temporar|malformed|timed? ?out|servfail",
    r"lookup fail|no answer from|unable to contact",
)

# Phrases that say the recipient's mailbox does not exist.
USER_UNKNOWN = _any(
    r"user unknown|unknown (?:user|recipient|mailbox|local[- ]?part|e-?mail address|address)",
    r"no such (?:user|mailbox|recipient|address|person|account|local user)",
    r"(?:user|recipient|mailbox|address|account|addressee|e-?mail address)(?: name)? "
    r"(?:does not|doesn'?t|not|did not) exists?",
    r"(?:user|recipient|mailbox|address|account|addressee)(?: name)? (?:was |is )?not found",
    r"(?:invalid|bad|illegal|non-?existent|unknown or illegal) (?:recipient|user|mailbox"
    r"|address|local[- ]?part|alias)",
    r"(?:is )?not a (?:valid|known|registered) (?:user|mailbox|recipient|address)",
    r"no (?:mailbox|account) (?:here )?by that name|no mailbox (?:here|found|available)",
    rf"doesn'?t have an? {_WORD} account|there is no one at this address",
    r"recipient address rejected: (?:user unknown|unknown user|invalid|access denied|"
    r"undeliverable|user .{1,64} does not exist)",
    r"recip(?:ient)?notfound|recipient not (?:found|ok|valid|exist)",
    r"mailbox (?:not found|not present|unavailable or access denied)",
    r"utilisateur inconnu|usuario (?:desconocido|inexistente)|benutzer unbekannt",
)
# The few that a server writes only about a mailbox it looked up in its own directory, with no
# SMTP conversation to say at which step: enough on their own.
USER_UNKNOWN_ALONE = _any(
    r"the recipient name is not recognized",  # Exchange's own directory
)
# Phrases that say the recipient's domain does not exist.
HOST_UNKNOWN = _any(
    r"host (?:or domain name )?not found|host unknown|unknown host",
    r"(?:no such|unknown|invalid|non-?existent|bad) domain",
    r"domain (?:name )?(?:does not|doesn'?t|not|did not) exists?|domain (?:was )?not found",
    r"(?:domain|host) is not reachable|unroute?able (?:address|domain)",
    r"name or service not known|couldn'?t find any host|account or domain may not exist",
    r"mail domain .{1,64} is unknown|domain must exist",
)
