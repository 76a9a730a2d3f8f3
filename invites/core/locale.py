"""Which language a page speaks: the person's own if we know it, else their browser's."""

from __future__ import annotations

from flask import has_request_context, request

#: The languages pages and email are written in.
LOCALES = ("en", "ru")


def pick_locale(preferred: str | None = None) -> str:
    """Use the given locale if supported, else the browser's best match, else English."""
    if preferred in LOCALES:
        return preferred
    best = request.accept_languages.best_match(LOCALES) if has_request_context() else None
    return best or "en"
