"""Request input every surface shares, checked once so no endpoint can forget it.

JSON nested deeper than any request needs is refused before anything walks it; strings a
database or mail can't carry are found wherever the API reads them (`unstorable_strings`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from .errors import ApiProblem

#: No request body needs more than a few levels (a batch of events with a context is four).
MAX_JSON_DEPTH = 32
#: A NUL, which neither PostgreSQL's text nor an email header can carry, or half of a
#: surrogate pair, which no UTF-8 encoder (database driver, SMTP) can write.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class JSONTooDeep(ApiProblem):
    """A JSON body nests deeper than MAX_JSON_DEPTH."""

    def __init__(self) -> None:
        super().__init__(
            400,
            "JSON nested too deeply",
            f"The body nests arrays or objects more than {MAX_JSON_DEPTH} levels deep.",
            slug="json-too-deep",
        )


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259); Python's parser accepts them unless told.
    raise ValueError(f"{name} is not valid JSON")


def _too_deep(value: Any) -> bool:
    # A loop, not recursion: the parsed value may be nested almost to the interpreter's limit.
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > MAX_JSON_DEPTH:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing what would otherwise become a 500 further on."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse strict JSON; raise JSONTooDeep past MAX_JSON_DEPTH levels."""
        kwargs.setdefault("parse_constant", _no_constant)
        try:
            value = json.loads(s, **kwargs)
        except RecursionError as exc:
            # The C parser stops cleanly at the interpreter's recursion limit (a 2 KB body of
            # '[' reaches it); say what is wrong instead of answering 500.
            raise JSONTooDeep() from exc
        if isinstance(value, dict | list) and _too_deep(value):
            raise JSONTooDeep()
        return value


def unstorable_strings(value: Any, path: str = "") -> list[str]:
    """Where in a parsed JSON value a string holds a NUL or a lone surrogate (keys too)."""
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            if UNSTORABLE.search(node):
                found.append(where or "body")
        elif isinstance(node, dict):
            for key, child in node.items():
                name = f"{where}.{key}" if where else str(key)
                if UNSTORABLE.search(key):
                    found.append(where or "body")
                else:
                    stack.append((child, name))
        elif isinstance(node, list):
            stack.extend(
                (child, f"{where}.{i}" if where else str(i)) for i, child in enumerate(node)
            )
    return sorted(found)


def init_app(app: Flask) -> None:
    """Install the JSON provider."""
    app.json = JSONProvider(app)
