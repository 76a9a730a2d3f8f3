"""Request input every surface shares, checked once so no endpoint can forget it.

JSON nested deeper than any request needs is refused before anything walks it; strings a
database or mail can't carry are found wherever the API reads them (`unstorable_strings`); a
body sent without a Content-Length (chunked) meets the same size limit as one with it.
"""

from __future__ import annotations

import json
import re
from typing import IO, Any, cast

from flask import Flask, Request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from invites.core.errors import ApiProblem

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


class _CappedStream(LimitedStream):
    """A body with no Content-Length that may not exceed `maximum` bytes.

    werkzeug's own limit for such streams stops reading at the limit and hands back what it
    has, so a chunked body over the limit was processed cut short. Reading one byte past the
    limit tells a body of exactly the limit from a longer one.
    """

    def __init__(self, stream: IO[bytes], maximum: int) -> None:
        super().__init__(stream, maximum + 1, is_max=True)
        self.maximum = maximum

    def readinto(self, b: bytearray) -> int | None:  # type: ignore[override]
        """Read as LimitedStream does; raise 413 once past the maximum."""
        size = super().readinto(b)
        if self.tell() > self.maximum:
            raise RequestEntityTooLarge()
        return size


class CappedRequest(Request):
    """Flask's request, with the body limit enforced on chunked bodies too."""

    @cached_property
    def stream(self) -> IO[bytes]:
        """The body stream, cut at max_content_length with a 413 rather than silently."""
        limit = self.max_content_length
        # Built on first read, so a view's own request.max_content_length (events) applies.
        if (
            limit is not None
            and self.content_length is None
            and "wsgi.input_terminated" in self.environ
        ):
            return cast(IO[bytes], _CappedStream(self.environ["wsgi.input"], limit))
        return get_input_stream(self.environ, max_content_length=limit)


def init_app(app: Flask) -> None:
    """Install the JSON provider and the request class that caps chunked bodies."""
    app.json = JSONProvider(app)
    app.request_class = CappedRequest
