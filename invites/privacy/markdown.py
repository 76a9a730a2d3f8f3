"""Policy text, written in Markdown by admins, as HTML that is safe to put in a page.

CommonMark with tables, and no raw HTML at all: what an admin types as `<script>` is shown
as text. The result still goes through nh3 with a small allow-list (no images, styles or
scripts; links only to http, https and mailto, opened without a referrer), so that even a
renderer bug can't put anything active on the public page.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")

_TAGS = {"a", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr"}
_TAGS |= {"li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul"}
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "td": {"style"}, "th": {"style"}}


def render(source: str) -> Markup:
    """The Markdown as sanitised HTML, marked safe for Jinja."""
    html = _MARKDOWN.render(source)
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        # Table cells' alignment is the only style Markdown writes.
        filter_style_properties={"text-align"},
        strip_comments=True,
    )
    return Markup(clean)  # noqa: S704 - sanitised just above
