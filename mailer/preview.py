"""Showing a message's HTML part in a page: its links open in a tab of their own."""

from __future__ import annotations

import re

_HEAD = re.compile(r"<head[^>]*>", re.IGNORECASE)
_BASE = '<base target="_blank">'


def links_in_new_tab(html: str) -> str:
    """The HTML part with a base target, so every link opens in a new tab.

    Inside a sandboxed frame a link would open the site within the frame, where its forms
    can't submit; a tab of its own is what a mail client gives it.
    """
    found = _HEAD.search(html)
    return html[: found.end()] + _BASE + html[found.end() :] if found else _BASE + html
