"""Bodies written by staff: Markdown to HTML, the sanitiser's policy, and HTML to plain text.

All three run once per campaign and locale, on text whose template tags are placeholder
words (mailer.placeholders), never per recipient.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

import nh3
from markdown_it import MarkdownIt

from mailer.placeholders import Placeholders
from mailer.template_checks import Problem

# CommonMark with tables and ~~strikethrough~~; no typographer or linkify, which would
# rewrite quotes and bare words. Raw HTML is allowed here because the sanitiser runs after.
_MARKDOWN = MarkdownIt("commonmark", {"typographer": False, "linkify": False}).enable(
    ["table", "strikethrough"]
)

TAGS = frozenset(
    {"a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup"}
    | {"dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i"}
    | {"img", "ins", "li", "ol", "p", "pre", "s", "small", "span", "strong", "sub", "sup"}
    | {"table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul"}
)
_DROP_WITH_CONTENT = {"script", "style", "template", "noscript", "title", "textarea", "select"}
_CELL = {"align", "valign", "width", "height", "colspan", "rowspan", "bgcolor"}
ATTRIBUTES = {
    "*": {"class", "style", "dir", "lang", "title", "align"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height", "border"},
    "table": {"width", "border", "cellpadding", "cellspacing", "bgcolor", "role"},
    "td": _CELL,
    "th": _CELL,
    "col": {"width", "span"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto", "tel"}
# No url() can appear in these, so a style can't fetch anything (a tracking pixel) or
# position a fake button over the real one.
STYLE_PROPERTIES = frozenset(
    {"color", "background-color", "font", "font-family", "font-size", "font-style"}
    | {"font-weight", "line-height", "letter-spacing", "text-align", "text-decoration"}
    | {"text-transform", "vertical-align", "white-space", "width", "max-width", "height"}
    | {"display", "border", "border-collapse", "border-color", "border-radius"}
    | {"border-style", "border-width", "border-top", "border-right", "border-bottom"}
    | {"border-left", "margin", "margin-top", "margin-right", "margin-bottom", "margin-left"}
    | {"padding", "padding-top", "padding-right", "padding-bottom", "padding-left"}
)
_ABSOLUTE = re.compile(r"(?i)(?:https?://[a-z0-9.-]+|mailto:|tel:)")
_PERSONAL_LINKS = {"unsubscribe_url", "preferences_url"}
RECIPIENT_NAMES = frozenset({"first_name", "unsubscribe_url", "preferences_url"})
_Refuse = Callable[[list[int], str, str], None]


def markdown_to_html(source: str) -> str:
    """Render CommonMark (plus tables and strikethrough) to HTML, not yet sanitised."""
    return _MARKDOWN.render(source)


def sanitise(
    html: str, tags: Placeholders, source: str = "", part: str = "body"
) -> tuple[str, list[Problem]]:
    """Keep only harmless HTML; say why a link or a placeholder in an attribute can't stay.

    `source` is what staff wrote, to find the line of a problem that has no template tag.
    """
    problems: list[Problem] = []
    lines = source.splitlines()

    def refuse(found: list[int], message: str, value: str = "") -> None:
        line = tags.tags[found[0]].line if found else None
        if line is None and value:
            line = next((n for n, text in enumerate(lines, 1) if value in text), None)
        problems.append(Problem(part, line, message))

    def attribute(element: str, name: str, value: str) -> str | None:
        found = tags.find(value)
        if any(tags.tags[i].statement for i in found):
            refuse(found, f'{{% … %}} can\'t be inside {name}="…"; put it around the element')
        elif found and name == "style":
            refuse(found, 'template values can\'t be inside style="…"')
        elif (element, name) in {("a", "href"), ("img", "src")}:
            return _url(element, value, found, tags, refuse)
        return value

    # javascript:, data: and other schemes are gone before `attribute` sees a URL.
    clean = nh3.clean(
        html,
        tags=set(TAGS),
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=ATTRIBUTES,
        attribute_filter=attribute,
        url_schemes=URL_SCHEMES,
        filter_style_properties=set(STYLE_PROPERTIES),
        strip_comments=True,
        link_rel=None,
    )
    return _unwrap_statements(clean, tags), problems


def _url(element: str, value: str, found: list[int], tags: Placeholders, refuse: _Refuse) -> str:
    if not found:
        if value.startswith("#") or _ABSOLUTE.match(value):
            return value
        refuse(found, f"the link '{value}' is not a full address; write https://…", value)
        return value
    first = tags.tags[found[0]]
    if element == "a" and value == tags.word(found[0]) and first.bare in _PERSONAL_LINKS:
        return value
    literal = _ABSOLUTE.match(value)
    if literal and value.index(tags.word(found[0])) >= literal.end():
        if any(tags.tags[i].names & RECIPIENT_NAMES for i in found):
            # Another site would learn who opened the email: the per-person tracking
            # the service promises not to do.
            refuse(found, "a link to another site can't carry the recipient's details", "")
        return value
    refuse(
        found,
        "a link must be {{ unsubscribe_url }}, {{ preferences_url }} or start with https://"
        " and a host name",
        "",
    )
    return value


def _unwrap_statements(html: str, tags: Placeholders) -> str:
    """Drop the <p> Markdown puts around a `{% if %}` alone on its line."""

    def unwrap(match: re.Match[str]) -> str:
        found = tags.find(match.group(1))
        only = "".join(tags.word(i) for i in found) == re.sub(r"\s", "", match.group(1))
        if found and only and all(tags.tags[i].statement for i in found):
            return match.group(1).strip()
        return match.group(0)

    return re.sub(r"<p>([A-Za-z0-9\s]+)</p>", unwrap, html)


_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "dt", "dd"}
_BLOCKS |= {"table", "caption", "blockquote", "pre", "center", "hr"}
_ROWS = {"li", "tr"}  # one line each, no blank line between
_CELLS = {"td", "th"}  # on their row's line, apart
_SPACE = re.compile(r"[ \t\n\r\f]+")
_BREAK = "\x00"  # a <br>, kept apart from newlines in the source, which are spaces


class _Text(HTMLParser):
    """Sanitised HTML to readable text: paragraphs, list bullets, and links as visible URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.inline: list[str] = []
        self.prefix = ""
        self.gap = ""
        self.links: list[tuple[str, int]] = []
        self.lists: list[list[int]] = []  # the next number per open list; -1 for bullets
        self.pre = 0
        self.quote = 0

    def flush(self, gap: str) -> None:
        raw = "".join(self.inline)
        self.inline = []
        if self.pre:
            text = raw.replace(_BREAK, "\n").strip("\n")
        else:
            text = "\n".join(_SPACE.sub(" ", line).strip() for line in raw.split(_BREAK)).strip()
        if text:
            text = self.prefix + text
            if self.quote:
                text = "\n".join("> " * self.quote + line for line in text.split("\n"))
            if self.blocks:
                self.blocks.append(self.gap)
            self.blocks.append(text)
            self.gap = gap
        elif len(gap) > len(self.gap):
            self.gap = gap
        self.prefix = ""

    def _gap(self, tag: str) -> str:
        return "\n" if tag in _ROWS or (tag in ("ul", "ol") and len(self.lists) > 1) else "\n\n"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("ul", "ol"):
            self.lists.append([-1 if tag == "ul" else int(dict(attrs).get("start") or 1)])
        if tag in _BLOCKS or tag in _ROWS:
            self.flush(self._gap(tag))
        if tag == "li" and self.lists:
            number = self.lists[-1]
            marker = "- " if number[0] < 0 else f"{number[0]}. "
            self.prefix = "  " * (len(self.lists) - 1) + marker
            number[0] += 0 if number[0] < 0 else 1
        elif tag in _CELLS and "".join(self.inline).strip():
            self.inline.append(" | ")
        elif tag == "br":
            self.inline.append(_BREAK)
        elif tag == "hr":
            self.inline.append("-" * 20)
            self.flush("\n\n")
        elif tag == "pre":
            self.pre += 1
        elif tag == "blockquote":
            self.quote += 1
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.inline)))
        elif tag == "img":
            self.inline.append(dict(attrs).get("alt") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.links:
            href, start = self.links.pop()
            text = _SPACE.sub(" ", "".join(self.inline[start:])).strip()
            if href and not href.startswith("#") and href not in (text, "mailto:" + text):
                self.inline.append(f" ({href})" if text else href)
        if tag in _BLOCKS or tag in _ROWS:
            self.flush(self._gap(tag))
        if tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)
        elif tag == "blockquote":
            self.quote = max(self.quote - 1, 0)

    def handle_data(self, data: str) -> None:
        self.inline.append(data)


def html_to_text(html: str) -> str:
    """The plain-text part for a sanitised HTML body."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    parser.flush("")
    return "".join(parser.blocks)
