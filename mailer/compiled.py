"""A campaign draft in compiled form: the variable set, the checks, and the per-recipient render.

A `CompiledDraft` holds three sandboxed templates (subject, HTML, text) whose Markdown,
sanitising, layout and CSS inlining were done by mailer.authoring.compile_draft. It is built
only through that function or `from_json`, and both run the same checks, so one exists only
for content that passed them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from jinja2 import Template

from mailer import sandbox
from mailer.render import Rendered, _one_line
from mailer.template_checks import Problem, compile_checked

VARIABLES: Mapping[str, str] = MappingProxyType(
    {
        "first_name": "The recipient's first name, or empty: first_name|default('friend', true)",
        "unsubscribe_url": "The recipient's one-click link to stop this kind of email",
        "preferences_url": "The recipient's email preferences page",
        "partner_name": "The partner a partner offer is sent for; empty for SpotCam's own",
        "campaign_name": "The campaign's name",
        "locale": "The language of this version: en or ru",
    }
)
RECIPIENT_VARIABLES = ("first_name", "unsubscribe_url", "preferences_url")
CAMPAIGN_VARIABLES = ("partner_name", "campaign_name", "locale")
MAX_LENGTH: Mapping[str, int] = MappingProxyType(
    {"first_name": 80, "unsubscribe_url": 900, "preferences_url": 900}
)
_ALLOWED = frozenset(VARIABLES)
_SCHEMES = ("https://", "http://")
_URL = "https://spotcam.invalid/p/sample"
_DEFAULT_SAMPLE = {"first_name": "Alex", "unsubscribe_url": _URL, "preferences_url": _URL}
# The longest recipient: every value at its maximum, in characters that grow the most when
# escaped for HTML or a URL and take two bytes in UTF-8.
_LONGEST = {
    "first_name": "Ё&" * 40,
    "unsubscribe_url": (_URL + "?" + "a&" * 450)[:900],
    "preferences_url": (_URL + "?" + "b&" * 450)[:900],
}
FORMAT = 1
"""The version of `to_json()`'s layout."""


@dataclass(frozen=True)
class Limits:
    """Bounds a draft must keep for the longest recipient."""

    html_bytes: int = 100_000  # Gmail clips a message whose HTML passes about 102 KB
    text_bytes: int = 100_000
    subject_chars: int = 250
    preheader_chars: int = 500
    source_chars: int = 100_000
    loop_iterations: int = 1_000  # per message, all parts together
    render_seconds: float = 0.1  # per render; a 5 KB email takes well under a millisecond


class DraftRejected(ValueError):
    """The draft can't be sent; `problems` says where and why, for the console to show."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class RenderFailed(Exception):
    """One recipient's render failed (a value the checks didn't try); send them nothing."""


def check_values(given: Mapping[str, str], names: tuple[str, ...], kind: str) -> dict[str, str]:
    unknown = set(given) - set(names)
    if unknown:
        raise ValueError(f"not {kind} variables: {', '.join(sorted(unknown))}")
    if not all(isinstance(v, str) for v in given.values()):
        raise TypeError(f"{kind} values must be strings")
    return dict(given)


Sample = tuple[str, dict[str, str]]  # who it stands for, and the values


def check_renders(
    part: str, template: Template, samples: list[Sample], limit: int, limits: Limits
) -> list[Problem]:
    """Render `template` for each sample under the deadline; report the first failure."""
    chars = part in ("subject", "preheader")
    unit = "characters" if chars else "bytes"
    for who, values in samples:
        token = sandbox.start_budget(limits.loop_iterations, limits.render_seconds)
        try:
            # A character is at least a byte, so the streaming bound can be the limit itself;
            # a subject gets room for the whitespace that _one_line collapses.
            guard = limit * 4 if part == "subject" else limit
            out = sandbox.run_with_deadline(template, values, guard, limits.render_seconds)
        except sandbox.OutputTooLarge:
            out = None
        except sandbox.SecurityError as exc:
            return [Problem(part, sandbox.template_line(exc, template), f"not allowed: {exc}")]
        except Exception as exc:  # any failure of staff content is a reason to refuse it
            line = sandbox.template_line(exc, template)
            return [Problem(part, line, f"{str(exc) or type(exc).__name__} (for {who})")]
        finally:
            sandbox.end_budget(token)
        if out is None:
            amount = f"more than {limit}"
        else:
            size = len(_one_line(out)) if chars else len(out.encode())
            if size <= limit:
                continue
            amount = str(size)
        return [Problem(part, None, f"{amount} {unit} for {who}; the limit is {limit}")]
    return []


def samples_for(constants: dict[str, str], sample: Mapping[str, str]) -> list[Sample]:
    """The recipients a draft is tried on: the sample, the longest, one without a name."""
    given = {**_DEFAULT_SAMPLE, **check_values(sample, RECIPIENT_VARIABLES, "recipient")}
    for name, value in given.items():
        if len(value) > MAX_LENGTH[name]:
            raise ValueError(f"sample {name} is longer than {MAX_LENGTH[name]}")
    return [
        ("the sample recipient", {**constants, **given}),
        ("the longest recipient", {**constants, **_LONGEST}),
        ("a recipient without a name", {**constants, **given, "first_name": ""}),
    ]


def compile_part(
    part: str,
    source: str,
    env: sandbox.CampaignSandbox,
    limit: int,
    samples: list[Sample],
    limits: Limits,
) -> tuple[Template | None, list[Problem]]:
    """Check and compile one template, then render it for the samples under the limits."""
    if len(source) > limits.source_chars:
        return None, [Problem(part, None, f"longer than {limits.source_chars} characters")]
    template, problems = compile_checked(part, source, env, _ALLOWED)
    if template is not None:
        problems = check_renders(part, template, samples, limit, limits)
    return (None if problems else template), problems


class CompiledDraft:
    """One locale of a campaign, checked and compiled; `render()` personalises it."""

    __slots__ = ("_constants", "_html", "_limits", "_sources", "_subject", "_text")

    def __init__(
        self, sources: Mapping[str, Any], sample: Mapping[str, str], *, _checked: object = None
    ) -> None:
        if _checked is not _CHECKED:
            raise TypeError("use compile_draft() or CompiledDraft.from_json()")
        self._sources = dict(sources)
        self._limits = Limits(**sources["limits"])
        self._constants = check_values(sources["constants"], CAMPAIGN_VARIABLES, "campaign")
        samples = samples_for(self._constants, sample)
        problems: list[Problem] = []
        parts: dict[str, Template] = {}
        for part, env, limit in (
            ("subject", sandbox.TEXT, self._limits.subject_chars),
            ("html", sandbox.HTML, self._limits.html_bytes),
            ("text", sandbox.TEXT, self._limits.text_bytes),
        ):
            template, found = compile_part(part, sources[part], env, limit, samples, self._limits)
            problems += found
            if template is not None:
                parts[part] = template
        if problems:
            raise DraftRejected(problems)
        self._subject, self._html, self._text = parts["subject"], parts["html"], parts["text"]

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], *, sample: Mapping[str, str] | None = None
    ) -> CompiledDraft:
        """Rebuild from `to_json()` output, checking the templates again (no Markdown run).

        The stored HTML between template tags is taken as compile_draft left it: whoever
        can write the stored form can write the code too.
        """
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown compiled-draft format {data.get('format')!r}")
        return cls(data, sample or {}, _checked=_CHECKED)

    def to_json(self) -> dict[str, Any]:
        """The compiled template sources and settings, as JSON-ready data for storage."""
        return dict(self._sources)

    @property
    def constants(self) -> Mapping[str, str]:
        """The campaign values baked into this draft."""
        return MappingProxyType(self._constants)

    def render(self, *, first_name: str, unsubscribe_url: str, preferences_url: str) -> Rendered:
        """Personalise for one recipient: subject (one line), text and HTML."""
        if (
            len(first_name) > MAX_LENGTH["first_name"]
            or len(unsubscribe_url) > MAX_LENGTH["unsubscribe_url"]
            or len(preferences_url) > MAX_LENGTH["preferences_url"]
        ):
            raise ValueError("a recipient value is longer than MAX_LENGTH allows")
        if not (unsubscribe_url.startswith(_SCHEMES) and preferences_url.startswith(_SCHEMES)):
            raise ValueError("recipient links must be http(s) URLs")
        values = {
            **self._constants,
            "first_name": _one_line(first_name),
            "unsubscribe_url": unsubscribe_url,
            "preferences_url": preferences_url,
        }
        limits = self._limits
        token = sandbox.start_budget(limits.loop_iterations, limits.render_seconds)
        try:
            subject = sandbox.run(self._subject, values, limits.subject_chars * 4)
            html = sandbox.run(self._html, values, limits.html_bytes)
            text = sandbox.run(self._text, values, limits.text_bytes)
        except Exception as exc:
            raise RenderFailed(f"{type(exc).__name__}: {exc}") from exc
        finally:
            sandbox.end_budget(token)
        return Rendered(subject=_one_line(subject), text=text, html=html)


_CHECKED = object()
