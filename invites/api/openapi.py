"""The public OpenAPI 3 document, generated from the schemas that validate requests."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from pydantic import BaseModel

from .auth import SCOPES
from .schemas import (
    Accepted,
    AcceptRequest,
    AcceptResult,
    InvitationCreate,
    InvitationStats,
    InviterStats,
    Problem,
)

bp = Blueprint("api_openapi", __name__, url_prefix="/api/v1")

MODELS: list[type[BaseModel]] = [
    InvitationCreate,
    Accepted,
    AcceptRequest,
    AcceptResult,
    InvitationStats,
    InviterStats,
    Problem,
]
REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _problems(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Malformed JSON",
        401: "Missing or invalid API key",
        403: "Key lacks the scope",
        404: "Not found",
        409: "Conflict with the invitation's state",
        410: "Token expired",
        413: "Body too large",
        415: "Not JSON",
        422: "Invalid fields (see `errors`)",
        429: "Over a limit; see Retry-After",
    }
    content = {"application/problem+json": {"schema": _ref(Problem)}}
    return {str(c): {"description": reasons[c], "content": content} for c in codes}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _date_param(name: str, text: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": text,
        "schema": {"type": "string", "format": "date"},
    }


def document() -> dict[str, Any]:
    """Build the OpenAPI document."""
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template=REF, by_alias=True)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    idem = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Repeat a request safely: the same key returns the same answer.",
        "schema": {"type": "string", "maxLength": 255},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SpotCam Mail API",
            "version": "1.0.0",
            "description": "Friend invitations and aggregate statistics. Scopes: "
            + ", ".join(SCOPES)
            + ".",
        },
        "servers": [{"url": current_app.config["PUBLIC_BASE_URL"]}],
        "security": [{"bearer": []}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API key."}
            },
        },
        "paths": {
            "/api/v1/invitations": {
                "post": {
                    "summary": "Invite a friend (scope: invitations)",
                    "description": "Always answers 202 for a valid request, whether or not "
                    "an email is sent: the API never reveals whether an address is "
                    "suppressed, already invited or already a user.",
                    "parameters": [idem],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(InvitationCreate)}},
                    },
                    "responses": {
                        "202": _json(Accepted, "Taken"),
                        **_problems(400, 401, 403, 413, 415, 422, 429),
                    },
                }
            },
            "/api/v1/invitations/accept": {
                "post": {
                    "summary": "Report that an invitee signed up (scope: invitations)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(AcceptRequest)}},
                    },
                    "responses": {
                        "200": _json(AcceptResult, "Recorded"),
                        **_problems(400, 401, 403, 404, 409, 410, 415, 422),
                    },
                }
            },
            "/api/v1/stats/invitations": {
                "get": {
                    "summary": "Per-day invitation counts (scope: stats)",
                    "parameters": [
                        _date_param("from", "First day, default 29 days before `to`."),
                        _date_param("to", "Last day, default today (UTC)."),
                    ],
                    "responses": {
                        "200": _json(InvitationStats, "Counts"),
                        **_problems(401, 403, 422),
                    },
                }
            },
            "/api/v1/inviters/{inviter_id}/stats": {
                "get": {
                    "summary": "One inviter's sent and accepted counts (scope: stats)",
                    "parameters": [
                        {
                            "name": "inviter_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "maxLength": 128},
                        }
                    ],
                    "responses": {"200": _json(InviterStats, "Counts"), **_problems(401, 403, 422)},
                }
            },
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    """Serve the OpenAPI document (public)."""
    return jsonify(document())
