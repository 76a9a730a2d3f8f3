"""Carry Jinja tags through Markdown, the sanitiser and the CSS inliner as inert words.

Staff templates are HTML or Markdown with `{{ … }}` and `{% … %}` in them. Those tools would
mangle the tags (`first_name` is emphasis to Markdown, `{{` is text to the sanitiser), so
each tag is swapped for a word made of letters and digits that none of them touches, and
swapped back at the end into a template the sandbox compiles once.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from jinja2 import Environment

from mailer.template_checks import Problem

_OPENS = {"variable_begin": "{{", "block_begin": "{%"}
_CLOSES = {"variable_end": "}}", "block_end": "%}"}
_SKIP = {"comment_begin", "comment", "comment_end", "raw_begin", "raw_end", "whitespace"}
# `{` that would open a tag once the template is restored: data keeps it as a literal.
_OPENER = re.compile(r"\{(?=[{%#])")
_LITERAL_BRACE = '{{ "{" }}'


@dataclass(frozen=True)
class Tag:
    """One Jinja tag of a staff-written part, with where it came from."""

    part: str
    line: int
    source: str
    statement: bool
    names: frozenset[str]
    bare: str | None  # the variable when the tag is exactly `{{ name }}`


class Placeholders:
    """The tags of one draft and the words standing in for them."""

    def __init__(self, env: Environment, texts: Iterable[str]) -> None:
        self._env = env
        texts = list(texts)
        while True:
            prefix = "jx" + secrets.token_hex(4) + "n"
            if not any(prefix in text for text in texts):
                break
        self._prefix = prefix
        self._pattern = re.compile(prefix + r"(\d+)z")
        self.tags: list[Tag] = []

    def word(self, index: int) -> str:
        """The word standing in for tag `index`."""
        return f"{self._prefix}{index}z"

    def _add(self, tag: Tag) -> str:
        self.tags.append(tag)
        return self.word(len(self.tags) - 1)

    def slot(self, name: str) -> str:
        """A word for `{{ name }}` that a trusted layout prints where the value belongs."""
        tag = Tag("layout", 0, "{{ " + name + " }}", False, frozenset({name}), name)
        return self._add(tag)

    def swap(self, part: str, source: str) -> str:
        """Return `source` (already checked) with each tag replaced by its word."""
        out: list[str] = []
        inner: list[str] = []
        names: set[str] = set()
        start = 0
        opened = ""
        for line, kind, value in self._env.lex(source):
            if kind in _OPENS:
                opened, inner, names, start = _OPENS[kind], [], set(), line
            elif kind in _CLOSES:
                body = "".join(inner).strip()
                tokens = [v for v in inner if v.strip()]
                bare = body if len(tokens) == 1 and body in names else None
                source_text = f"{opened} {body} {_CLOSES[kind]}"
                tag = Tag(part, start, source_text, opened == "{%", frozenset(names), bare)
                out.append(self._add(tag))
                opened = ""
            elif opened:
                inner.append(value)
                if kind == "name":
                    names.add(value)
            elif kind == "data":
                out.append(value)
            elif kind not in _SKIP:
                raise ValueError(f"unexpected {kind} token outside a tag")
        return "".join(out)

    def find(self, text: str) -> list[int]:
        """The tags whose words appear in `text`, in order."""
        return [int(m) for m in self._pattern.findall(text)]

    def lost_or_moved(self, part: str, text: str) -> list[Problem]:
        """Say which of `part`'s tags are missing from `text`, duplicated or out of order."""
        expected = [i for i, tag in enumerate(self.tags) if tag.part == part]
        found = [i for i in self.find(text) if self.tags[i].part == part]
        if found == expected:
            return []
        problems = []
        for i in expected:
            if i not in found:
                message = (
                    f"{self.tags[i].source} was lost: it sits where HTML drops content"
                    " (inside <…>, a <script> or <style>, or an attribute that isn't allowed)"
                )
                problems.append(Problem(part, self.tags[i].line, message))
        if not problems:
            # Every tag is there, so one is out of place or there twice.
            pairs = zip(found, expected, strict=False)
            moved = next((i for i, j in pairs if i != j), None)
            moved = found[len(expected)] if moved is None else moved
            message = (
                f"{self.tags[moved].source} was moved by the HTML parser: in a table only"
                " cells hold content, so put template tags inside a cell or around the table"
            )
            problems.append(Problem(part, self.tags[moved].line, message))
        return problems

    def repeats_intact(self, part: str, text: str, *, statements_only: bool = False) -> bool:
        """True if `part`'s tags appear in `text` as whole copies of the part, in order.

        `statements_only` for text made from HTML, where a link's URL follows its words.
        """

        def mine(i: int) -> bool:
            tag = self.tags[i]
            return tag.part == part and (tag.statement or not statements_only)

        expected = [i for i in range(len(self.tags)) if mine(i)]
        found = [i for i in self.find(text) if mine(i)]
        if not expected:
            return True
        copies, rest = divmod(len(found), len(expected))
        return rest == 0 and found == expected * copies

    def drop_statement_lines(self, text: str) -> str:
        """Let a line holding only `{% if %}`-like tags vanish from a text, with its newlines.

        Otherwise a false `{% if %}` on a line of its own leaves blank lines in the text part.
        """

        def join(match: re.Match[str]) -> str:
            found = self.find(match.group(1))
            return match.group(1) if all(self.tags[i].statement for i in found) else match.group(0)

        return re.sub(f"(?m)^((?:{self._pattern.pattern})+)[ \t]*\n+", join, text)

    def restore(self, text: str) -> str:
        """Turn `text` back into template source: words become tags, data stays literal."""
        pieces = self._pattern.split(text)
        out = []
        for n, piece in enumerate(pieces):
            if n % 2:
                out.append(self.tags[int(piece)].source)
                continue
            escaped = _OPENER.sub(_LITERAL_BRACE, piece)
            if n + 1 < len(pieces) and escaped.endswith("{"):  # would join the next tag's {{
                escaped = escaped[:-1] + _LITERAL_BRACE
            out.append(escaped)
        return "".join(out)
