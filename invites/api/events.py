"""Bounce and complaint events: from the bounce processor as JSON, or as a raw DSN.

`POST /api/v1/events` (scope: events) takes one of:

- `application/json`: one event `{"email", "type", "message_id"?, "detail"?}`, or a batch
  `{"events": [event, ...]}` of up to 500 events (a bare JSON list is refused);
- `message/rfc822`: a whole RFC 3464 delivery status notification, headers included, or
  `multipart/report`: its body, with its MIME Content-Type (and boundary) as the HTTP one.
  Each failed recipient counts as a hard or soft bounce as the DSN parser classifies it.

It answers 202 `{"processed": N, "suppressed": M}`.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, Field, ValidationError, field_validator

from mailer.bounces import FailedRecipient, parse_dsn

from .. import bounce_events
from ..addresses import InvalidAddress, address_hash, normalize
from ..db import db, utcnow
from ..errors import ApiProblem
from . import spec
from .auth import require
from .schemas import Strict, parse_body

bp = Blueprint("api_events", __name__, url_prefix="/api/v1")

MAX_EVENTS = 500
DETAIL_MAX = 1000
#: A full batch or a DSN quoting the original message outgrows the app-wide body limit.
MAX_BODY_BYTES = 1024 * 1024
RAW_TYPES = ("message/rfc822", "multipart/report")


class BounceEvent(Strict):
    """A bounce or complaint reported about an address."""

    email: str = Field(min_length=3, max_length=320, description="The address it concerns.")
    type: Literal["hard_bounce", "soft_bounce", "complaint"] = Field(
        description="soft_bounce: repeated ones within the window count as a hard bounce."
    )
    message_id: str | None = Field(
        default=None,
        max_length=255,
        description="The Message-ID of the mail that bounced, if known. Not stored.",
    )
    detail: str | None = Field(
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


def _from_dsn() -> list[BounceEvent]:
    raw = request.get_data(cache=False)
    if request.mimetype == "multipart/report":
        # The report's own MIME header travelled as the HTTP one: put it back for the parser.
        raw = f"MIME-Version: 1.0\r\nContent-Type: {request.content_type}\r\n\r\n".encode() + raw
    events = []
    for failed in parse_dsn(raw).recipients:
        try:
            events.append(
                BounceEvent(
                    email=failed.recipient,
                    type="hard_bounce" if failed.hard else "soft_bounce",
                    detail=_detail(failed),
                )
            )
        except ValidationError:
            continue  # a recipient the parser recovered but that is no usable address
    if not events:
        raise ApiProblem(
            422,
            "Not a bounce",
            "No failed recipients found in the message.",
            slug="no-failed-recipients",
            errors=[{"field": "body", "message": "no failed recipients found"}],
        )
    return events


@bp.post("/events")
@require("events")
def receive() -> Response:
    """Apply bounce and complaint events, given as JSON or as a raw delivery status report."""
    _limit_body()
    if request.mimetype in RAW_TYPES:
        events = _from_dsn()
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
    suppressed = bounce_events.record_all(
        session,
        [bounce_events.Event(address_hash(e.email, key), e.type, e.detail) for e in events],
        settings,
        utcnow(),
    )
    session.commit()
    body = {"processed": len(events), "suppressed": suppressed}
    return Response(json.dumps(body), status=202, mimetype="application/json")


MODELS = [BounceEvent, BounceEventBatch, EventsResult]
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
            "bounce. Neither the address nor the detail is stored: only a keyed hash.",
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
                "202": spec.json_response(EventsResult, "Applied"),
                **spec.problems(400, 401, 403, 413, 415, 422),
            },
        }
    },
}
