"""Small helpers with which each API module describes its own paths for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

REF = "#/components/schemas/{model}"

_REASONS = {
    400: "Malformed JSON",
    401: "Missing or invalid API key",
    403: "Key lacks the scope",
    404: "Not found",
    409: "Conflict with the current state",
    410: "Token expired",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid fields (see `errors`)",
    429: "Over a limit; see Retry-After",
}

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeat a request safely: the same key returns the same answer.",
    "schema": {"type": "string", "maxLength": 255},
}


def ref(model: type[BaseModel] | str) -> dict[str, str]:
    """A $ref to a component schema."""
    name = model if isinstance(model, str) else model.__name__
    return {"$ref": REF.format(model=name)}


def problems(*codes: int) -> dict[str, Any]:
    """Problem+json responses for these status codes."""
    content = {"application/problem+json": {"schema": ref("Problem")}}
    return {str(c): {"description": _REASONS[c], "content": content} for c in codes}


def json_response(model: type[BaseModel], description: str) -> dict[str, Any]:
    """A JSON response with a model's schema."""
    return {"description": description, "content": {"application/json": {"schema": ref(model)}}}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """A required JSON request body with a model's schema."""
    return {"required": True, "content": {"application/json": {"schema": ref(model)}}}


def path_param(name: str, description: str) -> dict[str, Any]:
    """A string path parameter."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "maxLength": 128},
    }


def query_date(name: str, description: str, pattern: str) -> dict[str, Any]:
    """An optional date query parameter (YYYY-MM-DD), its bounds given as a pattern."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", "format": "date", "pattern": pattern},
    }
