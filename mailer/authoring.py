"""Turn what marketing staff write into per-recipient email: checked once, rendered fast.

`compile_draft` does the slow and risky work once per campaign and locale: it checks each
part (syntax, variables, the sandbox, size and time for a worst-case recipient), renders
Markdown, sanitises the HTML, derives the text part, wraps both in the layout and inlines
the CSS. Template tags ride through all of that as placeholder words (mailer.placeholders).
The result is a `CompiledDraft`, whose `render()` is all that runs per recipient.

    html, text = load_layout("templates/email", "ru")
    compiled = compile_draft(draft, html, text, constants={"locale": "ru"}, sample={})
    compiled.render(first_name="Анна", unsubscribe_url=u, preferences_url=p)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from mailer import sandbox
from mailer.compiled import (
    CAMPAIGN_VARIABLES,
    FORMAT,
    MAX_LENGTH,
    RECIPIENT_VARIABLES,
    VARIABLES,
    CompiledDraft,
    DraftRejected,
    Limits,
    RenderFailed,
    Sample,
    check_values,
    compile_part,
    samples_for,
)
from mailer.placeholders import Placeholders
from mailer.render import _INLINER
from mailer.sandbox import FILTERS
from mailer.staff_html import html_to_text, markdown_to_html, sanitise
from mailer.template_checks import Problem, edge_samples

__all__ = [
    "CAMPAIGN_VARIABLES",
    "FILTERS",
    "MAX_LENGTH",
    "RECIPIENT_VARIABLES",
    "VARIABLES",
    "CompiledDraft",
    "Draft",
    "DraftRejected",
    "LayoutError",
    "Limits",
    "Problem",
    "RenderFailed",
    "compile_draft",
    "load_layout",
]

# The layout is written by developers: a normal environment, autoescaped for HTML.
_LAYOUT_HTML = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
_LAYOUT_TEXT = Environment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)  # noqa: S701


@dataclass(frozen=True)
class Draft:
    """What staff write for one locale of a campaign. `text=None` derives it from the body."""

    subject: str
    preheader: str
    body: str
    body_format: Literal["markdown", "html"] = "markdown"
    text: str | None = None


class LayoutError(ValueError):
    """The developer-written layout lost part of the draft or shows no unsubscribe link."""


def load_layout(
    template_dir: Path | str, locale: str, name: str = "campaign"
) -> tuple[Template, Template]:
    """Load `<locale>/<name>.html` and `.txt` from the email templates, with their includes."""
    if not locale.isalpha():
        raise ValueError(f"bad locale {locale!r}")
    loader = FileSystemLoader(Path(template_dir))
    html = _LAYOUT_HTML.overlay(loader=loader).get_template(f"{locale}/{name}.html")
    text = _LAYOUT_TEXT.overlay(loader=loader).get_template(f"{locale}/{name}.txt")
    return html, text


def _check_parts(draft: Draft, samples: list[Sample], limits: Limits) -> list[Problem]:
    """Check each part on its own, so that a problem carries the line staff wrote it on."""
    parts = [
        ("subject", draft.subject, sandbox.TEXT, limits.subject_chars),
        ("preheader", draft.preheader, sandbox.TEXT, limits.preheader_chars),
        ("body", draft.body, sandbox.HTML, limits.html_bytes),
    ]
    if draft.text is not None:
        parts.append(("text", draft.text, sandbox.TEXT, limits.text_bytes))
    problems: list[Problem] = []
    for part, source, env, limit in parts:
        problems += compile_part(part, source, env, limit, samples, limits)[1]
    return problems


def _layout(template: str | Template, env: Environment) -> Template:
    return env.from_string(template) if isinstance(template, str) else template


def compile_draft(
    draft: Draft,
    layout_html: str | Template,
    layout_text: str | Template,
    *,
    constants: Mapping[str, str],
    sample: Mapping[str, str],
    limits: Limits | None = None,
    unsubscribe: bool = True,
) -> CompiledDraft:
    """Check a draft and compile it with its layout; raise DraftRejected with every problem.

    `constants` are the campaign's values (partner_name, campaign_name, locale; missing ones
    are empty); `sample` is a recipient to try besides the longest and the nameless one.
    `unsubscribe=False`: service mail, which can't be left, so its layout need not show an
    unsubscribe link (it shows the preferences page).
    """
    if draft.body_format not in ("markdown", "html"):
        raise ValueError(f"body_format must be markdown or html, not {draft.body_format!r}")
    limits = limits or Limits()
    values = {name: "" for name in CAMPAIGN_VARIABLES}
    values.update(check_values(constants, CAMPAIGN_VARIABLES, "campaign"))
    samples = samples_for(values, sample)
    # Saving also tries the names real audiences have (one to three letters, each script):
    # a template that fails for one of them is refused now, not at send time.
    samples += edge_samples(samples[0][1])
    problems = _check_parts(draft, samples, limits)
    if problems:
        raise DraftRejected(problems)

    sources = [draft.subject, draft.preheader, draft.body, draft.text or ""]
    sources += [t for t in (layout_html, layout_text) if isinstance(t, str)]
    tags = Placeholders(sandbox.TEXT, sources)
    subject = tags.swap("subject", draft.subject)
    preheader = tags.swap("preheader", draft.preheader)
    body = tags.swap("body", draft.body)
    if draft.body_format == "markdown":
        body = markdown_to_html(body)
    body, problems = sanitise(body, tags, draft.body)
    problems += tags.lost_or_moved("body", body)
    if problems:
        raise DraftRejected(problems)
    text = html_to_text(body) if draft.text is None else tags.swap("text", draft.text)
    text = text.rstrip("\n")  # the layout decides the spacing around the body

    context = {
        **values,
        "subject": subject,
        "preheader": preheader,
        "body_html": Markup(body),  # noqa: S704 - sanitised above
        "body_text": text,
        "preferences_url": tags.slot("preferences_url"),
    }
    if unsubscribe:
        # Left out for service mail: the layout then has no unsubscribe link to show.
        context["unsubscribe_url"] = tags.slot("unsubscribe_url")
    html_out = _INLINER.inline(_layout(layout_html, _LAYOUT_HTML).render(context))
    text_out = tags.drop_statement_lines(_layout(layout_text, _LAYOUT_TEXT).render(context))
    link = "unsubscribe_url" if unsubscribe else "preferences_url"
    _check_layout(tags, html_out, text_out, link, context[link], draft.text is None)

    stored = {
        "format": FORMAT,
        "subject": tags.restore(subject),
        "html": tags.restore(html_out),
        "text": tags.restore(text_out),
        "constants": values,
        "limits": asdict(limits),
    }
    try:
        return CompiledDraft.from_json(stored, sample=sample)
    except DraftRejected as exc:  # only the whole email's size is left to fail here
        names = {"html": "body", "text": "text" if draft.text is not None else "body"}
        raise DraftRejected(
            [
                Problem(names.get(p.part, p.part), p.line, f"{_WHOLE} {p.message}")
                for p in exc.problems
            ]
        ) from None


#: Said of a size that only the assembled email exceeds (the part alone was within it).
_WHOLE = (
    "the whole email, with its layout and inline styles, is too large "
    "(Gmail clips at about 100 KB):"
)


def _check_layout(
    tags: Placeholders, html: str, text: str, link: str, slot: str, derived_text: bool
) -> None:
    """Refuse a layout that dropped, split or reordered a part, or hid the link `link` (its
    stand-in is `slot`): the unsubscribe link, or service mail's preferences link."""
    for part in ("subject", "preheader", "body"):
        if not tags.repeats_intact(part, html):
            raise LayoutError(f"the HTML layout changed the order of the {part}'s template tags")
    text_parts = ("subject", "preheader") if derived_text else ("subject", "preheader", "text")
    for part in text_parts:
        if not tags.repeats_intact(part, text):
            raise LayoutError(f"the text layout changed the order of the {part}'s template tags")
    if derived_text and not tags.repeats_intact("body", text, statements_only=True):
        raise LayoutError("the text layout changed the order of the body's template tags")
    # Gmail's and Yahoo's bulk-sender rules: a visible unsubscribe link in every message.
    if slot not in html or slot not in text:
        raise LayoutError(f"the layout must show {{{{ {link} }}}} in both HTML and text")
