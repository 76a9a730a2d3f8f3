"""Render localized email templates from files, and staff-authored templates in a sandbox."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import css_inline
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    meta,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

log = logging.getLogger(__name__)

_PARTS = (".subject.txt", ".txt", ".html")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# Remote stylesheets would mean network I/O inside a render; @media rules can't be inlined,
# so they are kept in a <style> block for the clients that honour it.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


class UnknownTemplate(TemplateNotFound, KeyError):
    """No locale, not even the default one, has this template."""


class UnsafeTemplate(TemplateError):
    """A sandboxed template tried to reach something it must not."""


@dataclass(frozen=True)
class Rendered:
    """A rendered email: one-line subject, plain text and inlined HTML."""

    subject: str
    text: str
    html: str


def _one_line(value: str) -> str:
    """Collapse whitespace and control characters so a subject can't span header lines."""
    return " ".join(_CONTROL.sub(" ", value).split())


class Renderer:
    """Render `<locale>/<name>.{subject.txt,txt,html}` templates with locale fallback."""

    def __init__(self, template_dir: Path | str, default_locale: str = "en") -> None:
        self.template_dir = Path(template_dir)
        self.default_locale = default_locale
        loader = FileSystemLoader(self.template_dir)
        self._html_env = Environment(loader=loader, autoescape=True, undefined=StrictUndefined)
        # Text and subject aren't HTML: escaping would show "&amp;" to the reader.
        self._text_env = Environment(
            loader=loader,
            autoescape=False,  # noqa: S701
            undefined=StrictUndefined,
        )
        # Indexed once: resolving a locale must not touch the disk on every send.
        self._index = self._scan()

    def _scan(self) -> dict[str, frozenset[str]]:
        """Map each locale to the names that have all three template parts."""
        index: dict[str, frozenset[str]] = {}
        if not self.template_dir.is_dir():
            return index
        for locale_dir in self.template_dir.iterdir():
            if not locale_dir.is_dir() or not _LOCALE.match(locale_dir.name):
                continue
            files = {p.name for p in locale_dir.iterdir() if p.is_file()}
            names = {f.removesuffix(".subject.txt") for f in files if f.endswith(".subject.txt")}
            index[locale_dir.name] = frozenset(
                n for n in names if _NAME.match(n) and all(n + s in files for s in _PARTS)
            )
        return index

    def _resolve(self, name: str, locale: str) -> str:
        """Pick the locale to render `name` in: exact, then language only, then default."""
        candidates = [locale, re.split(r"[_-]", locale)[0], self.default_locale]
        for candidate in candidates:
            if name in self._index.get(candidate, ()):
                return candidate
        raise UnknownTemplate(f"{name} (locale {locale!r}, default {self.default_locale!r})")

    def render(self, name: str, locale: str, context: Mapping[str, Any]) -> Rendered:
        """Render subject, text and HTML of template `name` in `locale`."""
        if not _NAME.match(name):
            raise UnknownTemplate(name)
        if not _LOCALE.match(locale):
            locale = self.default_locale
        chosen = self._resolve(name, locale)
        base = f"{chosen}/{name}"
        subject = self._text_env.get_template(base + ".subject.txt").render(context)
        text = self._text_env.get_template(base + ".txt").render(context)
        html = self._html_env.get_template(base + ".html").render(context)
        return Rendered(subject=_one_line(subject), text=text, html=_INLINER.inline(html))

    def variables(self, name: str) -> frozenset[str]:
        """The variables template `name` uses (default locale), to validate a context early."""
        base = f"{self._resolve(name, self.default_locale)}/{name}"
        found: set[str] = set()
        for suffix in _PARTS:
            source = self._text_env.loader.get_source(self._text_env, base + suffix)[0]  # type: ignore[union-attr]
            found |= meta.find_undeclared_variables(self._text_env.parse(source))
        return frozenset(found)

    def names(self) -> list[str]:
        """List template names available in the default locale."""
        return sorted(self._index.get(self.default_locale, ()))

    def locales(self) -> list[str]:
        """List locales that have at least one complete template."""
        return sorted(loc for loc, names in self._index.items() if names)


def _sandbox(autoescape: bool) -> ImmutableSandboxedEnvironment:
    """Build a sandbox for templates written by staff rather than developers."""
    return ImmutableSandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined)


_SANDBOXES = {True: _sandbox(True), False: _sandbox(False)}


def render_sandboxed(source: str, context: Mapping[str, Any], *, autoescape: bool = True) -> str:
    """Render untrusted template source, refusing attribute tricks that escape the sandbox."""
    try:
        return _SANDBOXES[bool(autoescape)].from_string(source).render(context)
    except SecurityError as exc:
        log.warning("refused unsafe template: %s", exc)
        raise UnsafeTemplate(f"template refused by the sandbox: {exc}") from exc
