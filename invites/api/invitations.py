"""Invitation endpoints: create one, report its acceptance."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app

from invites.api import spec
from invites.api.auth import require
from invites.api.schemas import (
    Accepted,
    AcceptRequest,
    AcceptResult,
    InvitationCreate,
    parse_body,
    respond,
    valid_email,
)
from invites.core import idempotency
from invites.core.db import db, utcnow
from invites.core.errors import ApiProblem, invalid
from invites.core.mail import tokens
from invites.core.tokens import TokenExpired, TokenInvalid
from invites.invitations import lifecycle as invitations
from invites.invitations.limits import LimitExceeded

bp = Blueprint("api_invitations", __name__, url_prefix="/api/v1/invitations")

# Built once: the same bytes for every address, and the answer an Idempotency-Key replays.
ACCEPTED_BODY = json.dumps(Accepted().model_dump(mode="json"))


@bp.post("")
@require("invitations")
def create() -> Response:
    """Invite a friend; the answer never reveals what is held about the address."""

    def work(alone: bool) -> idempotency.Outcome:
        body = parse_body(InvitationCreate)
        settings = current_app.config["SETTINGS"]
        request = invitations.NewInvitation(
            body.inviter_id, body.inviter_name, valid_email(body.email), body.locale, body.note
        )
        try:
            # db.engine: resolving the bind through the session would build a Session, which
            # the autocommitted call never uses.
            invitations.create(db.session, request, settings, utcnow(), alone, db.engine)
        except LimitExceeded as exc:
            raise ApiProblem(
                429,
                "Too many invitations",
                f"This inviter reached the {exc.limit.replace('_', ' ')} limit.",
                slug="rate-limited",
                headers={"Retry-After": str(exc.retry_after)},
            ) from exc
        return idempotency.Outcome(202, ACCEPTED_BODY)

    return idempotency.respond(work)


@bp.post("/accept")
@require("invitations")
def accept() -> Response:
    """Record that an invitee signed up; erases the address (its purpose is fulfilled)."""
    body = parse_body(AcceptRequest)
    settings = current_app.config["SETTINGS"]
    try:
        public_id = tokens().load("accept", body.token, settings.invitation_window_days * 86400)
    except TokenExpired as exc:
        raise ApiProblem(410, "Token expired", str(exc), slug="token-expired") from exc
    except TokenInvalid as exc:
        raise invalid("token", str(exc), "The token is not a valid accept token.") from exc
    session = db.session
    try:
        changed = invitations.accept(session, public_id, body.user_id, utcnow())
        session.commit()
    except LookupError as exc:
        session.rollback()
        raise ApiProblem(404, "Not Found", "No such invitation.", slug="not-found") from exc
    except invitations.InvitationClosed as exc:
        session.rollback()
        raise ApiProblem(
            409,
            "Invitation closed",
            f"The invitation can no longer be accepted ({exc}).",
            slug="invitation-closed",
        ) from exc
    except invitations.AlreadyAccepted as exc:
        session.rollback()
        raise ApiProblem(
            409,
            "Already accepted",
            "The invitation was already accepted by another account.",
            slug="already-accepted",
        ) from exc
    return respond(AcceptResult(status="accepted" if changed else "already_accepted"))


MODELS = [InvitationCreate, Accepted, AcceptRequest, AcceptResult]
PATHS = {
    "/api/v1/invitations": {
        "post": {
            "summary": "Invite a friend (scope: invitations)",
            "description": "Always answers 202 for a valid request, whether or not an email is "
            "sent: the API never reveals whether an address is suppressed, already invited or "
            "already a user.",
            "parameters": [spec.IDEMPOTENCY_KEY],
            "requestBody": spec.json_body(InvitationCreate),
            "responses": {
                "202": spec.json_response(Accepted, "Taken", headers=spec.REPLAYED),
                **spec.problems(400, 401, 403, 413, 415, 422, 429),
            },
        }
    },
    "/api/v1/invitations/accept": {
        "post": {
            "summary": "Report that an invitee signed up (scope: invitations)",
            "requestBody": spec.json_body(AcceptRequest),
            "responses": {
                "200": spec.json_response(AcceptResult, "Recorded"),
                **spec.problems(400, 401, 403, 404, 409, 410, 413, 415, 422),
            },
        }
    },
}
