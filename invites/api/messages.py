"""Service email: send one from a registered template, and read its status."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from .. import contacts, messages
from ..db import db, utcnow
from ..emails import renderer
from ..errors import ApiProblem
from ..models import OutboundMessage
from . import idempotency, spec
from .auth import require
from .schemas import Identifier, Strict, invalid, parse_body, valid_email

bp = Blueprint("api_messages", __name__, url_prefix="/api/v1/messages")

#: How outbox states read from outside.
STATUS = {
    "pending": "queued",
    "sending": "queued",
    "sent": "sent",
    "failed": "failed",
    "unknown": "unknown",
    "suppressed": "suppressed",
    "cancelled": "cancelled",
}


class MessageIn(Strict):
    """Send one service message to an account holder (user_id) or an address (email)."""

    user_id: Identifier | None = None
    email: str | None = Field(None, min_length=3, max_length=320)
    template: str = Field(min_length=1, max_length=64, description="One of the service templates.")
    locale: Literal["en", "ru"] | None = Field(None, description="Default: the contact's, or en.")
    context: dict[str, Any] = Field(
        default_factory=dict, description="Exactly the variables the template uses."
    )

    @model_validator(mode="after")
    def _one_recipient(self) -> MessageIn:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id or email")
        return self


class MessageQueued(BaseModel):
    """The message is in the outbox."""

    id: str


class MessageStatus(BaseModel):
    """Where a message is."""

    id: str
    status: Literal["queued", "sent", "failed", "unknown", "suppressed", "cancelled"] = Field(
        description="unknown: handed to the mail server in full, but no reply came; it may "
        "have been delivered and is never sent again."
    )
    reason: str | None
    template: str | None
    created_at: datetime
    sent_at: datetime | None


@bp.post("")
@require("messages")
def send() -> Response:
    """Queue a service message; sent whatever the marketing choices, never to a bounced address."""

    def work(_alone: bool) -> idempotency.Outcome:
        body = parse_body(MessageIn)
        if body.template not in messages.SERVICE_TEMPLATES:
            known = ", ".join(messages.SERVICE_TEMPLATES)
            raise invalid("template", f"unknown template; known: {known}")
        try:
            context = messages.check_context(renderer(), body.template, body.context)
        except messages.InvalidContext as exc:
            raise ApiProblem(
                422,
                "Invalid request",
                "The context doesn't fit the template.",
                slug="validation",
                errors=exc.errors,
            ) from exc
        session = db.session
        contact, email = None, None
        if body.user_id is not None:
            contact = contacts.find(session, body.user_id)
            if contact is None:
                raise invalid("user_id", "no contact with this user id")
        else:
            email = valid_email(body.email or "")
        locale = body.locale or (contact.locale if contact else "en")
        msg = messages.queue_service(
            session,
            contact=contact,
            email=email,
            template=body.template,
            locale=locale,
            context=context,
            now=utcnow(),
        )
        return idempotency.Outcome(202, json.dumps({"id": msg.public_id}))

    return idempotency.respond(work)


@bp.get("/<message_id>")
@require("messages")
def status(message_id: str) -> Response:
    """Return a service message's status."""
    msg = db.session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.public_id == message_id, OutboundMessage.kind == "service"
        )
    )
    if msg is None:
        raise ApiProblem(404, "Not Found", "No such message.", slug="not-found")
    return jsonify(
        MessageStatus(
            id=message_id,
            status=STATUS[msg.status],  # type: ignore[arg-type]
            reason=msg.last_error
            if msg.status in ("failed", "unknown", "suppressed", "cancelled")
            else None,
            template=msg.template,
            created_at=msg.created_at,
            sent_at=msg.sent_at,
        ).model_dump(mode="json")
    )


MODELS = [MessageIn, MessageQueued, MessageStatus]
PATHS = {
    "/api/v1/messages": {
        "post": {
            "summary": "Send a service message (scope: messages)",
            "description": "Templates: " + ", ".join(messages.SERVICE_TEMPLATES) + ". Unknown "
            "templates and contexts that don't match the template's variables get a 422.",
            "parameters": [spec.IDEMPOTENCY_KEY],
            "requestBody": spec.json_body(MessageIn),
            "responses": {
                "202": spec.json_response(MessageQueued, "Queued"),
                **spec.problems(400, 401, 403, 413, 415, 422),
            },
        }
    },
    "/api/v1/messages/{message_id}": {
        "get": {
            "summary": "A service message's status (scope: messages)",
            "parameters": [spec.path_param("message_id", "The id returned when it was queued.")],
            "responses": {
                "200": spec.json_response(MessageStatus, "Status"),
                **spec.problems(401, 403, 404),
            },
        }
    },
}
