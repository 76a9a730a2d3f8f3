"""Bounce and complaint events: from the bounce processor as JSON, or as a raw DSN.

`POST /api/v1/events` (scope: events) takes one of:

- `application/json`: one event `{"email", "type", "message_id"?, "detail"?}`, or a batch
  `{"events": [event, ...]}` of up to 500 events (a bare JSON list is refused);
- `message/rfc822`: a whole RFC 3464 delivery status notification, headers included, or
  `multipart/report`: its body, with its MIME Content-Type (and boundary) as the HTTP one.
  Each failed recipient counts as a hard bounce when the report says its address does not
  exist (mailer.classify), else as a soft bounce.

It answers 202 `{"processed": N, "suppressed": M}`; for a raw report also, per failed recipient,
its address (the caller sent it), status, reason, hard or soft and whether this request
suppressed it, and the parser's problems. A report with no failed recipient it can read is a
422 whose `errors` say why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, Field, ValidationError, field_validator

from invites.api import spec
from invites.api.auth import require
from invites.api.fields import Email, Text
from invites.api.schemas import Strict, parse_body, respond
from invites.core.addresses import InvalidAddress, address_hash, normalize
from invites.core.db import db, utcnow
from invites.core.errors import ApiProblem
from invites.feedback import events as bounce_events
from mailer.bounces import FailedRecipient, parse_dsn
from mailer.classify import Reason

bp = Blueprint("api_events", __name__, url_prefix="/api/v1")

MAX_EVENTS = 500
DETAIL_MAX = 1000
#: A full batch or a DSN quoting the original message outgrows the app-wide body limit.
MAX_BODY_BYTES = 1024 * 1024
RAW_TYPES = ("message/rfc822", "multipart/report")


class BounceEvent(Strict):
    """A bounce or complaint reported about an address."""

    email: Email = Field(description="The address it concerns.")
    type: Literal["hard_bounce", "soft_bounce", "complaint"] = Field(
        description="soft_bounce: repeated ones within the window count as a hard bounce."
    )
    message_id: Text | None = Field(
        default=None,
        max_length=255,
        description="The Message-ID of the mail that bounced, if known. Not stored.",
    )
    detail: Text | None = Field(
        default=None,
        max_length=DETAIL_MAX,
        description="The provider's explanation (status, diagnostic). Not stored.",
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        # Syntax only: a dead domain is exactly what a hard bounce reports.
        try:
            return normalize(value)
        except InvalidAddress as exc:
            raise ValueError(str(exc)) from exc


class BounceEventBatch(Strict):
    """Several events in one request."""

    events: list[BounceEvent] = Field(min_length=1, max_length=MAX_EVENTS)


class EventsResult(BaseModel):
    """What a request did."""

    processed: int = Field(description="Events applied (failed recipients, for a raw DSN).")
    suppressed: int = Field(
        description="Addresses this request put on the suppression list for a bounce or "
        "complaint (an address already suppressed for that reason is not counted)."
    )


class BounceOutcome(BaseModel):
    """One failed recipient of a raw report: what the report says, and what was done."""

    email: str = Field(description="The recipient, as the report names it.")
    status: str | None = Field(description="Its enhanced status code, e.g. 5.1.1.")
    reason: Reason = Field(description="Why it failed (sisimai's reasons).")
    hard: bool = Field(
        description="The address itself does not exist (unknown user or domain, null MX, "
        "moved): counted as a hard bounce. Otherwise a soft bounce."
    )
    suppressed: bool = Field(
        description="This request put the address on the suppression list (a hard bounce, or "
        "the soft bounce that reached the limit)."
    )


class ReportResult(EventsResult):
    """What a raw delivery status report said and what the request did with it."""

    recipients: list[BounceOutcome] = Field(description="Each failed recipient, in order.")
    problems: list[str] = Field(
        description="What of the report could not be read or applied (never quotes an address)."
    )


def _limit_body() -> None:
    # Batches and raw reports quoting the original mail are larger than other requests;
    # werkzeug answers 413 (via the problem handler) past this limit.
    request.max_content_length = max(current_app.config["MAX_CONTENT_LENGTH"] or 0, MAX_BODY_BYTES)


def _from_json() -> list[BounceEvent]:
    data: Any = request.get_json(silent=True)
    if isinstance(data, dict) and "events" in data:
        return parse_body(BounceEventBatch).events
    return [parse_body(BounceEvent)]


def _detail(failed: FailedRecipient) -> str:
    return " ".join(p for p in (failed.status, failed.diagnostic) if p)[:DETAIL_MAX]


@dataclass(frozen=True)
class _Reported:
    """A failed recipient of a raw report and the event it became, if its address is usable."""

    failed: FailedRecipient
    event: BounceEvent | None


def _from_dsn() -> tuple[list[_Reported], list[str]]:
    # Cached: a request that met a dead database connection runs again and reads it again.
    raw = request.get_data(cache=True)
    if request.mimetype == "multipart/report":
        # The report's own MIME header travelled as the HTTP one: put it back for the parser.
        raw = f"MIME-Version: 1.0\r\nContent-Type: {request.content_type}\r\n\r\n".encode() + raw
    report = parse_dsn(raw)
    problems = list(report.problems)
    reported = []
    for failed in report.recipients:
        try:
            event: BounceEvent | None = BounceEvent(
                email=failed.recipient,
                type="hard_bounce" if failed.hard else "soft_bounce",
                detail=_detail(failed),
            )
        except ValidationError:
            # A quoted local part and the like: the service never sends to such an address.
            problems.append("a recipient address the service does not accept: not applied")
            event = None
        reported.append(_Reported(failed, event))
    if not reported:
        raise ApiProblem(
            422,
            "Not a bounce",
            "No failed recipients found in the message.",
            slug="no-failed-recipients",
            errors=[{"field": "body", "message": p} for p in problems],
        )
    return reported, problems


def _report_result(
    counts: EventsResult, reported: list[_Reported], added: list[bool], problems: list[str]
) -> ReportResult:
    """The answer to a raw report: the counts, each failed recipient, the problems."""
    outcome = iter(added)  # one per applied event, in the order of the report
    recipients = [
        BounceOutcome(
            email=r.failed.recipient,
            status=r.failed.status,
            reason=r.failed.reason,
            hard=r.failed.hard,
            suppressed=next(outcome) if r.event is not None else False,
        )
        for r in reported
    ]
    return ReportResult(**counts.model_dump(), recipients=recipients, problems=problems)


@bp.post("/events")
@require("events")
def receive() -> Response:
    """Apply bounce and complaint events, given as JSON or as a raw delivery status report."""
    _limit_body()
    reported: list[_Reported] | None = None
    problems: list[str] = []
    if request.mimetype in RAW_TYPES:
        reported, problems = _from_dsn()
        events = [r.event for r in reported if r.event is not None]
    elif request.is_json:
        events = _from_json()
    else:
        raise ApiProblem(
            415,
            "Unsupported Media Type",
            "Send application/json events, or a bounce as message/rfc822 or multipart/report.",
            slug="unsupported-media-type",
        )
    settings = current_app.config["SETTINGS"]
    key = settings.address_hash_key
    session = db.session
    recorded = [
        bounce_events.Event(address_hash(e.email, key), e.type, e.detail, e.message_id)
        for e in events
    ]
    added = bounce_events.record_each(session, recorded, settings, utcnow())
    session.commit()
    # Counted per address: a complaint and a hard bounce for one address suppress it once.
    suppressed = len({e.email_hash for e, new in zip(recorded, added, strict=True) if new})
    result = EventsResult(processed=len(events), suppressed=suppressed)
    if reported is not None:
        result = _report_result(result, reported, added, problems)
    return respond(result, 202)


MODELS = [BounceEvent, BounceEventBatch, EventsResult, BounceOutcome, ReportResult]
PATHS = {
    "/api/v1/events": {
        "post": {
            "summary": "Report bounces and complaints (scope: events)",
            "description": 'JSON: one event, or `{"events": [...]}` with up to '
            f"{MAX_EVENTS}. Or a raw RFC 3464 delivery status notification as message/rfc822 "
            "(the whole message) or multipart/report (its body; the boundary in Content-Type). "
            "A hard bounce or complaint suppresses the address and closes its open invitations; "
            "a complaint also withdraws the contact's marketing consent. Soft bounces are "
            "counted per address within a window, and reaching the limit counts as a hard "
            "bounce. Neither the address nor the detail is stored: only a keyed hash. A raw "
            "report counts a failed recipient as a hard bounce only when it says the address "
            "does not exist (unknown user or domain, null MX, moved); a full mailbox, a spam or "
            "policy refusal, a refusal of our sender or a network problem is a soft bounce. "
            "The answer lists each failed recipient with its status, reason, hard or soft, and "
            "whether this request suppressed it. A report in which no failed recipient can be "
            "read is a 422 whose `errors` say what could not be read.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"oneOf": [spec.ref(BounceEvent), spec.ref(BounceEventBatch)]}
                    },
                    "message/rfc822": {"schema": {"type": "string"}},
                    "multipart/report": {"schema": {"type": "string"}},
                },
            },
            "responses": {
                "202": {
                    "description": "Applied: counts for JSON events; for a raw report also "
                    "each failed recipient and the parser's problems.",
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [spec.ref(EventsResult), spec.ref(ReportResult)]}
                        }
                    },
                },
                **spec.problems(400, 401, 403, 413, 415, 422),
            },
        }
    },
}
