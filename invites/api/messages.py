"""Service email: send one from a registered template, and read its status."""

from __future__ import annotations

import json
from typing import Any, Literal

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from invites.accounts import contacts
from invites.accounts import mail as messages
from invites.api import spec
from invites.api.auth import require
from invites.api.fields import NO_NUL, Email, Identifier, UtcDateTime
from invites.api.schemas import Strict, parse_body, respond, valid_email
from invites.core import idempotency
from invites.core.db import db, utcnow
from invites.core.errors import ApiProblem, invalid, invalid_fields
from invites.core.mail import renderer
from invites.core.suppression import Stream
from invites.delivery.kinds import FINAL
from invites.delivery.models import OutboundMessage, Status

bp = Blueprint("api_messages", __name__, url_prefix="/api/v1/messages")

#: How outbox states read from outside.
STATUS = {
    Status.PENDING: "queued",
    Status.SENDING: "queued",
    Status.SENT: "sent",
    Status.FAILED: "failed",
    Status.UNKNOWN: "unknown",
    Status.SUPPRESSED: "suppressed",
    Status.CANCELLED: "cancelled",
}


def _document_message_in(schema: dict[str, Any]) -> None:
    """Add what the validators check beyond each field: one recipient, the template's context."""
    # One of user_id and email, non-null (a null counts as not given).
    recipients = [
        {"required": [name], "properties": {name: {"type": "string"}}}
        for name in ("user_id", "email")
    ]
    # Per template, exactly its variables, read from the template files as check_context does
    # (the document is built in a request, so the app's renderer is at hand).
    templates = []
    for name in messages.SERVICE_TEMPLATES:
        variables = sorted(renderer().variables(name) - messages.PROVIDED)
        value = {
            "type": ["string", "number"],
            "maxLength": messages.MAX_CONTEXT_VALUE,
            "pattern": NO_NUL,
        }
        context = {
            "type": "object",
            "properties": dict.fromkeys(variables, value),
            "required": variables,
            "additionalProperties": False,
        }
        templates.append(
            {
                "properties": {"template": {"const": name}, "context": context},
                "required": ["template", "context"] if variables else ["template"],
            }
        )
    schema["allOf"] = [{"oneOf": recipients}, {"oneOf": templates}]


class MessageIn(Strict):
    """Send one service message to an account holder (user_id) or an address (email)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_document_message_in)

    user_id: Identifier | None = Field(None, description="An account holder (see contacts).")
    email: Email | None = Field(None, description="An address without an account.")
    template: str = Field(
        min_length=1,
        max_length=64,
        description="One of the service templates.",
        json_schema_extra={"enum": list(messages.SERVICE_TEMPLATES)},
    )
    locale: Literal["en", "ru"] | None = Field(None, description="Default: the contact's, or en.")
    context: dict[str, Any] = Field(
        default_factory=dict,
        description="Exactly the variables the template uses, as strings or numbers.",
    )

    @model_validator(mode="after")
    def _one_recipient(self) -> MessageIn:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id or email")
        return self


class MessageQueued(BaseModel):
    """The message is in the outbox."""

    id: str = Field(description="Its id, for GET /api/v1/messages/{message_id}.")


class MessageStatus(BaseModel):
    """Where a message is."""

    id: str
    status: Literal["queued", "sent", "failed", "unknown", "suppressed", "cancelled"] = Field(
        description="unknown: handed to the mail server in full, but no reply came; it may "
        "have been delivered and is never sent again."
    )
    reason: str | None
    template: str | None
    created_at: UtcDateTime
    sent_at: UtcDateTime | None


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
            raise invalid_fields(exc.errors, "The context doesn't fit the template.") from exc
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
        assert msg.public_id is not None  # service messages always have one
        queued = MessageQueued(id=msg.public_id).model_dump(mode="json")
        return idempotency.Outcome(202, json.dumps(queued))

    return idempotency.respond(work)


@bp.get("/<message_id>")
@require("messages")
def status(message_id: str) -> Response:
    """Return a service message's status."""
    msg = db.session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.public_id == message_id, OutboundMessage.kind == Stream.SERVICE
        )
    )
    if msg is None:
        raise ApiProblem(404, "Not Found", "No such message.", slug="not-found")
    return respond(
        MessageStatus(
            id=message_id,
            status=STATUS[msg.status],  # type: ignore[arg-type]
            reason=msg.last_error if msg.status in FINAL - {Status.SENT} else None,
            template=msg.template,
            created_at=msg.created_at,
            sent_at=msg.sent_at,
        )
    )


MODELS = [MessageIn, MessageQueued, MessageStatus]
PATHS = {
    "/api/v1/messages": {
        "post": {
            "summary": "Send a service message (scope: messages)",
            "description": "Templates: " + ", ".join(messages.SERVICE_TEMPLATES) + ". The "
            "context holds exactly the template's variables. A user_id with no contact is a 422.",
            "parameters": [spec.IDEMPOTENCY_KEY],
            "requestBody": spec.json_body(MessageIn),
            "responses": {
                "202": spec.json_response(
                    MessageQueued,
                    "Queued",
                    headers=spec.REPLAYED,
                    links={
                        "status": spec.link(
                            "/api/v1/messages/{message_id}",
                            "get",
                            "The message's status.",
                            message_id="$response.body#/id",
                        )
                    },
                ),
                **spec.problems(400, 401, 403, 413, 415, 422),
            },
        }
    },
    "/api/v1/messages/{message_id}": {
        "get": {
            "summary": "A service message's status (scope: messages)",
            "parameters": [spec.path_param("message_id", "The id returned when it was queued")],
            "responses": {
                "200": spec.json_response(MessageStatus, "Status"),
                **spec.problems(401, 403, 404, 422),
            },
        }
    },
}
