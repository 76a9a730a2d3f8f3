"""Searching by typed text: what a person types is matched literally, as part of a value."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func

#: The escape character the patterns below use.
ESCAPE = "\\"


def contains(column: Any, typed: str) -> Any:
    """`column` contains `typed`, in any case; % and _ are no wildcards to the person typing."""
    escaped = typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped.lower()}%", escape=ESCAPE)
