"""Placeholder replaced below."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import BaseModel

bp = Blueprint("api_messages", __name__, url_prefix="/api/v1")
MODELS: list[type[BaseModel]] = []
PATHS: dict[str, Any] = {}
