"""Small helpers with which each API module describes its own paths for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from invites.api.fields import PATH_IDS
from invites.core.idempotency import HEADER, KEY_PATTERN

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
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": "Repeat a request safely: the same key (1-255 printable ASCII characters, "
    "kept 24 hours per API key) returns the same answer; with another body it is a 422.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN},
}


#: On an answer replayed for a repeated Idempotency-Key.
REPLAYED = {
    "Idempotent-Replayed": {
        "description": "Present (true) when this is the stored answer to an earlier request.",
        "schema": {"type": "string", "const": "true"},
    }
}


def ref(model: type[BaseModel] | str) -> dict[str, str]:
    """A $ref to a component schema."""
    name = model if isinstance(model, str) else model.__name__
    return {"$ref": REF.format(model=name)}


#: Headers some problems carry.
_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string", "const": "Bearer"}}},
    429: {
        "Retry-After": {
            "description": "Seconds until the limit lets a request through again.",
            "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
        }
    },
}


def problems(*codes: int) -> dict[str, Any]:
    """Problem+json responses for these status codes."""
    content = {"application/problem+json": {"schema": ref("Problem")}}
    out: dict[str, Any] = {}
    for code in codes:
        out[str(code)] = {"description": _REASONS[code], "content": content}
        if code in _HEADERS:
            out[str(code)]["headers"] = _HEADERS[code]
    return out


def json_response(
    model: type[BaseModel],
    description: str,
    links: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON response with a model's schema (and links to where its values lead)."""
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ref(model)}},
    }
    if links:
        response["links"] = links
    if headers:
        response["headers"] = headers
    return response


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """A required JSON request body with a model's schema."""
    return {"required": True, "content": {"application/json": {"schema": ref(model)}}}


def path_param(name: str, description: str) -> dict[str, Any]:
    """A string path parameter, with the pattern every request's value is checked against."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"{description} ({PATH_IDS[name].message}).",
        "schema": {"type": "string", "pattern": PATH_IDS[name].pattern},
    }


def link(path: str, method: str, description: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link: where a response's values can be used next (clients and fuzzers)."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {
        "operationRef": f"#/paths/{pointer}/{method}",
        "description": description,
        "parameters": parameters,
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
