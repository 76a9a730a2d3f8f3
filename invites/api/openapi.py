"""The public OpenAPI 3 document, generated from the schemas that validate requests."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from invites.api import contacts, events, invitations, messages, privacy, stats
from invites.api.auth import public
from invites.api.schemas import Problem, Strict
from invites.api.spec import REF
from invites.core.apikeys import SCOPES

bp = Blueprint("api_openapi", __name__, url_prefix="/api/v1")

#: Each module declares its own PATHS and MODELS next to the views they describe.
MODULES: tuple[ModuleType, ...] = (invitations, stats, contacts, messages, events, privacy)


def document() -> dict[str, Any]:
    """Build the OpenAPI document."""
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for model in [Problem, *(m for module in MODULES for m in module.MODELS)]:
        # Request bodies (Strict) as they are validated, responses as they are serialised.
        mode = "validation" if issubclass(model, Strict) else "serialization"
        schema = model.model_json_schema(ref_template=REF, by_alias=True, mode=mode)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for module in MODULES:
        for path, operations in module.PATHS.items():
            paths.setdefault(path, {}).update(operations)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SpotCam Mail API",
            "version": "1.0.0",
            "description": "Invitations, contacts and consent, service email, bounce events, "
            "aggregate statistics and the record of processing. API keys carry scopes: "
            + ", ".join(SCOPES)
            + ".",
        },
        "servers": [{"url": current_app.config["SETTINGS"].public_base_url}],
        "security": [{"bearer": []}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API key."}
            },
        },
        "paths": paths,
    }


@bp.get("/openapi.json")
@public
def openapi() -> Response:
    """Serve the OpenAPI document (public)."""
    return jsonify(document())
