"""One lazily built object per app and process: a Redis client, the renderer, a transport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from flask import Flask, current_app

T = TypeVar("T")


class per_app(Generic[T]):  # noqa: N801 - used like a function: renderer = per_app(...)
    """A getter that builds `build(app)` on first use and keeps it in `app.extensions`.

    Kept per process on purpose: each holds a connection or a parsed index that is cheap to
    rebuild and must not be shared across a fork. Nothing another process needs lives here.
    """

    def __init__(self, name: str, build: Callable[[Flask], T]) -> None:
        self.key = f"spotcam.{name}"
        self.build = build

    def __call__(self, app: Flask | None = None) -> T:
        """The app's object (the current app's without one), built if it isn't yet."""
        app = app or current_app._get_current_object()  # type: ignore[attr-defined]
        found: T | None = app.extensions.get(self.key)
        if found is None:
            found = app.extensions[self.key] = self.build(app)
        return found
