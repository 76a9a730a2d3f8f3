"""Staff write a campaign in the console; each recipient gets their own copy, safely and fast.

The stories: a Markdown or HTML draft becomes a personalised email; anything that could
escape the sandbox, blow up in size or time, or smuggle script into an inbox is refused on
save with the part, the line and a reason; what passed renders per recipient without running
Markdown, the sanitiser or the CSS inliner again.
"""

from __future__ import annotations

import gc
import html
import json
import re
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from typing import Any, Literal

import pytest
from jinja2 import TemplateAssertionError, UndefinedError
from jinja2.exceptions import SecurityError
from markupsafe import Markup

import mailer.authoring as authoring
from mailer import sandbox
from mailer.authoring import (
    CAMPAIGN_VARIABLES,
    RECIPIENT_VARIABLES,
    VARIABLES,
    CompiledDraft,
    Draft,
    DraftRejected,
    LayoutError,
    Limits,
    RenderFailed,
    compile_draft,
    load_layout,
)
from mailer.render import Rendered, Renderer

from ..support.helpers import ROOT

TEMPLATES = ROOT / "templates" / "email"
UNSUBSCRIBE = "https://spotcam.example/p/TOKEN-one.click?c=7&k=2"
PREFERENCES = "https://spotcam.example/p/TOKEN-prefs"
LAYOUT_HTML = (
    "<html><head><style>p { color: #123456; }</style></head><body>"
    '<div class="preheader">{{ preheader }}</div>{{ body_html }}'
    '<p class="footer"><a href="{{ unsubscribe_url }}">Unsubscribe</a> · '
    '<a href="{{ preferences_url }}">Preferences</a>'
    "{% if partner_name %} Sent for {{ partner_name }}.{% endif %}</p></body></html>"
)
LAYOUT_TEXT = "{{ body_text }}\n\nUnsubscribe: {{ unsubscribe_url }}\n"


def build(
    body: str,
    *,
    subject: str = "News for {{ first_name }}",
    preheader: str = "",
    body_format: Literal["markdown", "html"] = "markdown",
    text: str | None = None,
    constants: dict[str, str] | None = None,
    limits: Limits | None = None,
    layout: tuple[Any, Any] = (LAYOUT_HTML, LAYOUT_TEXT),
) -> CompiledDraft:
    draft = Draft(subject, preheader, body, body_format, text)
    return compile_draft(
        draft, *layout, constants=constants or {"locale": "en"}, sample={}, limits=limits
    )


def refused(body: str, **kwargs: Any) -> DraftRejected:
    with pytest.raises(DraftRejected) as info:
        build(body, **kwargs)
    return info.value


def send(compiled: CompiledDraft, first_name: str = "Anna") -> Rendered:
    return compiled.render(
        first_name=first_name, unsubscribe_url=UNSUBSCRIBE, preferences_url=PREFERENCES
    )


class Links(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [v or "" for k, v in attrs if tag == "a" and k == "href"]


# --- A draft becomes personalised email ---------------------------------------------------


def test_a_markdown_campaign_reaches_each_recipient_with_their_name() -> None:
    compiled = build(
        "# Hello {{ first_name }}!\n\nOur **spring** sale starts today.\n\n"
        "[See the offer](https://spotcam.example/spring)",
        preheader="Only for {{ first_name }}",
    )

    anna, boris = send(compiled, "Anna"), send(compiled, "Boris")

    assert anna.subject == "News for Anna" and boris.subject == "News for Boris"
    assert "<h1>Hello Anna!</h1>" in anna.html and "Hello Boris!" in boris.html
    assert "<strong>spring</strong>" in anna.html
    assert '<div class="preheader">Only for Anna</div>' in anna.html
    assert anna.text.startswith("Hello Anna!\n\nOur spring sale starts today.")
    assert "See the offer (https://spotcam.example/spring)" in anna.text


def test_css_of_the_layout_is_inlined_once_at_compile_time() -> None:
    got = send(build("Plain words."))

    assert '<p style="color: #123456;">Plain words.</p>' in got.html
    assert "<style>" not in got.html


def test_a_name_is_escaped_in_the_html_part_but_not_in_the_text_or_subject() -> None:
    got = send(build("Hi {{ first_name }}"), "<b>Tom & Jerry</b>")

    assert "Hi &lt;b&gt;Tom &amp; Jerry&lt;/b&gt;" in got.html
    assert "<b>Tom" not in got.html
    assert got.text.startswith("Hi <b>Tom & Jerry</b>")
    assert got.subject == "News for <b>Tom & Jerry</b>"


def test_the_subject_is_one_line_whatever_the_template_does() -> None:
    compiled = build("x", subject="Hi\n{{ first_name }}\r\n{% if first_name %}\n\t!{% endif %}")

    got = send(compiled, "Eve\r\nBcc: x@example.com")

    assert got.subject == "Hi Eve Bcc: x@example.com !"


def test_the_recipients_links_land_in_href_attributes_intact() -> None:
    compiled = build(
        '[Stop these emails]({{ unsubscribe_url }}) or <a href="{{ preferences_url }}">choose</a>'
    )

    got = send(compiled)

    hrefs = [html.unescape(h) for h in Links(got.html).hrefs]
    assert hrefs == [UNSUBSCRIBE, PREFERENCES, UNSUBSCRIBE, PREFERENCES]
    assert f"Stop these emails ({UNSUBSCRIBE})" in got.text
    assert f"choose ({PREFERENCES})" in got.text


def test_markdown_syntax_inside_template_tags_is_left_alone() -> None:
    compiled = build(
        "**{{ first_name }}**, _{{ campaign_name }}_ and {{ first_name ~ '_*not*_' }}",
        constants={"campaign_name": "spring_sale_2026", "locale": "en"},
    )

    got = send(compiled, "Ann_a")

    assert "<strong>Ann_a</strong>, <em>spring_sale_2026</em> and Ann_a_*not*_" in got.html


def test_a_false_if_on_its_own_line_leaves_no_empty_paragraph_or_blank_lines() -> None:
    compiled = build("Hello.\n\n{% if first_name %}\n\nNice to see you.\n\n{% endif %}\n\nBye.")

    named, nameless = send(compiled, "Anna"), send(compiled, "")

    assert "Nice to see you.</p>" in named.html and "Nice" not in nameless.html
    assert not re.search("<p[^>]*></p>", nameless.html)
    assert named.text.startswith("Hello.\n\nNice to see you.\n\nBye.\n\nUnsubscribe")
    assert nameless.text.startswith("Hello.\n\nBye.\n\nUnsubscribe")


def test_literal_braces_written_by_staff_stay_literal() -> None:
    compiled = build("Write {% raw %}{{ like this }}{% endraw %} and { or {%raw%}{%{% endraw %}")

    got = send(compiled)

    assert "Write {{ like this }} and { or {%" in got.html
    assert got.text.startswith("Write {{ like this }} and { or {%")


def test_a_given_text_part_is_used_as_written() -> None:
    compiled = build("<p>HTML only</p>", body_format="html", text="Hi {{ first_name }} & co.")

    got = send(compiled, "<Anna>")

    assert got.text.startswith("Hi <Anna> & co.\n\nUnsubscribe: " + UNSUBSCRIBE)
    assert "HTML only" in got.html and "HTML only" not in got.text


def test_the_text_part_derived_from_html_shows_every_link_as_a_visible_url() -> None:
    compiled = build(
        "<h2>Spring</h2><p>Read <a href='https://spotcam.example/a?x=1&amp;y=2'>the news</a>"
        " or write to <a href='mailto:help@spotcam.example'>help@spotcam.example</a>.</p>"
        "<ul><li>one</li><li>two<br>lines</li></ul><table><tr><td>A</td><td>B</td></tr></table>",
        body_format="html",
    )

    got = send(compiled)

    assert got.text.startswith(
        "Spring\n\nRead the news (https://spotcam.example/a?x=1&y=2) or write to"
        " help@spotcam.example.\n\n- one\n- two\nlines\n\nA | B\n\nUnsubscribe: "
    )


def test_staff_html_is_sanitised_of_script_handlers_and_javascript_links() -> None:
    compiled = build(
        "<script>alert(1)</script><p onclick='alert(2)'>Hello</p>"
        "<img src='https://cdn.spotcam.example/a.png' onerror='alert(3)'>"
        "<a href='javascript:alert(4)'>click</a><a href=' JaVaScRiPt:alert(5)'>again</a>"
        "<iframe src='https://evil.example'></iframe><form action='https://evil.example'>"
        "<input name='password'></form><p style='color: red; background: url(https://t.example)'>"
        "styled</p><style>p { color: red }</style>",
        body_format="html",
    )

    got = send(compiled)

    for bad in ("script", "alert", "onclick", "onerror", "javascript", "iframe", "form", "input"):
        assert bad not in got.html.lower()
    assert "url(" not in got.html and "evil" not in got.html
    assert '<img src="https://cdn.spotcam.example/a.png">' in got.html
    assert '<p style="color: red">styled</p>' in got.html  # the layout's p colour gave way
    assert "alert" not in got.text


def test_a_russian_campaign_round_trips_with_the_partner_named() -> None:
    layout = load_layout(TEMPLATES, "ru")
    compiled = build(
        "## Здравствуйте, {{ first_name|default('друг', true) }}!\n\n"
        "Весенняя скидка от «{{ partner_name }}» — [подробнее](https://spotcam.example/весна).",
        subject="{{ first_name }}, скидка для вас",
        preheader="Только до воскресенья",
        constants={"partner_name": "Рога и Копыта", "campaign_name": "Весна", "locale": "ru"},
        layout=layout,
    )

    got = send(compiled, "Анна")

    assert got.subject == "Анна, скидка для вас"
    assert "Здравствуйте, Анна!</h2>" in got.html and "Только до воскресенья" in got.html
    assert "по поручению партнёра «Рога и Копыта»" in got.html
    assert "по поручению партнёра «Рога и Копыта»" in got.text
    assert "подробнее (https://spotcam.example/%D0%B2%D0%B5%D1%81%D0%BD%D0%B0)" in got.text
    assert f"Отписаться: {UNSUBSCRIBE}" in got.text
    assert "Здравствуйте, друг!" in send(compiled, "").text


def test_the_english_layout_says_on_whose_behalf_a_partner_offer_is_sent() -> None:
    layout = load_layout(TEMPLATES, "en")
    partner = build("Hi", constants={"partner_name": "Acme", "locale": "en"}, layout=layout)
    own = build("Hi", constants={"locale": "en"}, layout=layout)

    sentence = "SpotCam sends this offer on behalf of Acme. We have not given Acme your address."
    assert sentence in send(partner).html and sentence in send(partner).text
    assert "on behalf of" not in send(own).html + send(own).text
    assert [html.unescape(h) for h in Links(send(own).html).hrefs] == [PREFERENCES, UNSUBSCRIBE]


def test_the_existing_marketing_templates_still_render() -> None:
    context = {"subject": "S", "body_text": "T", "body_html": Markup("<p>H</p>")}
    context |= {"unsubscribe_url": UNSUBSCRIBE, "preferences_url": PREFERENCES}

    got = Renderer(TEMPLATES).render("marketing", "ru", context)

    assert ">H</p>" in got.html and got.text.startswith("T\n\nОтписаться:")


# --- Compile once, render fast ------------------------------------------------------------


def test_per_recipient_rendering_runs_no_markdown_sanitiser_or_css_inliner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled = build("# Hi {{ first_name }}\n\n<b>bold</b>", layout=load_layout(TEMPLATES, "en"))

    def boom(*args: object) -> None:
        raise AssertionError("ran per recipient")

    class Inliner:
        inline = boom

    monkeypatch.setattr(authoring, "markdown_to_html", boom)
    monkeypatch.setattr(authoring, "sanitise", boom)
    monkeypatch.setattr(authoring, "html_to_text", boom)
    monkeypatch.setattr(authoring, "_INLINER", Inliner())

    assert "Hi Zoë" in send(compiled, "Zoë").html


def test_a_compiled_draft_is_stored_as_json_and_reloaded_by_a_worker() -> None:
    compiled = build("Hi {{ first_name }}", constants={"campaign_name": "C", "locale": "en"})

    stored = json.loads(json.dumps(compiled.to_json()))
    reloaded = CompiledDraft.from_json(stored)

    assert send(reloaded, "Ann") == send(compiled, "Ann")
    assert reloaded.constants == {"partner_name": "", "campaign_name": "C", "locale": "en"}


def test_a_tampered_stored_draft_is_checked_again_on_reload() -> None:
    stored = build("Hi").to_json()
    stored["html"] += "{{ ''.__class__.__mro__ }}"

    with pytest.raises(DraftRejected) as info:
        CompiledDraft.from_json(stored)

    assert "__class__" in str(info.value)


def test_a_compiled_draft_cannot_be_made_without_the_checks() -> None:
    with pytest.raises(TypeError):
        CompiledDraft(build("Hi").to_json(), {})


# --- Refused on save, with the part, the line and why -------------------------------------

ESCAPES = {
    "class chain": ("{{ ''.__class__.__mro__ }}", "'.__class__' is not allowed"),
    "cycler globals": ("{{ cycler.__init__.__globals__ }}", "'.__init__' is not allowed"),
    "lipsum globals": ("{{ lipsum.__globals__['os'] }}", "'.__globals__' is not allowed"),
    # CVE-2024-56326: keep a reference to str.format and call it indirectly.
    "CVE-2024-56326": (
        '{% set run = "{0.__init__.__globals__}".format %}{{ run(first_name) }}',
        "{% set %} is not available",
    ),
    # CVE-2025-27516: reach str.format through the |attr filter.
    "CVE-2025-27516": (
        '{{ "{0.__init__.__globals__}"|attr("format")(first_name) }}',
        "filter 'attr' is not available",
    ),
    "format": ("{{ '{0.__class__}'.format(first_name) }}", "'.format' is not allowed"),
    "format_map": ("{{ first_name.format_map }}", "'.format_map' is not allowed"),
    "namespace": ("{{ namespace(x=1) }}", "unknown variable 'namespace'"),
    "range": ("{% for i in range(10) %}{% endfor %}", "unknown variable 'range'"),
    "safe": ("{{ first_name|safe }}", "filter 'safe' is not available"),
    "macro": ("{% macro f() %}{% endmacro %}", "{% macro %} is not available"),
    "include": ("{% include '/etc/passwd' %}", "{% include %} is not available"),
}


@pytest.mark.parametrize("payload, message", ESCAPES.values(), ids=ESCAPES.keys())
def test_sandbox_escapes_are_refused_with_their_line(payload: str, message: str) -> None:
    error = refused(f"Hello.\n\nTry this:\n{payload}\n")

    assert {(p.part, p.line) for p in error.problems} == {("body", 4)}
    assert any(message in p.message for p in error.problems)


RUNTIME_ESCAPES = [
    "{{ first_name.__class__.__mro__ }}",
    "{{ first_name['__class__'] }}",
    "{{ '{0.__class__}'.format(first_name) }}",
    "{{ first_name.format_map({}) }}",
    "{{ '%s' % first_name }}",
]


@pytest.mark.parametrize("payload", RUNTIME_ESCAPES)
def test_the_sandbox_itself_refuses_what_the_static_check_would(payload: str) -> None:
    # Skip the static check: the environment alone must hold.
    template = sandbox.HTML.from_string(payload)
    token = sandbox.start_budget(100, 1.0)
    try:
        with pytest.raises(SecurityError):
            sandbox.run(template, {"first_name": "Anna"}, 1000)
    finally:
        sandbox.end_budget(token)


def test_the_sandbox_has_no_globals_and_no_dangerous_filters() -> None:
    with pytest.raises(UndefinedError):
        sandbox.run(sandbox.HTML.from_string("{{ cycler }}"), {}, 100)
    with pytest.raises(TemplateAssertionError, match="No filter named 'attr'"):
        sandbox.HTML.from_string("{{ x|attr('format') }}")


def test_an_unknown_variable_is_refused_with_a_suggestion() -> None:
    error = refused("Hi\n{{ fist_name }}", subject="Hello {{ first_name }} {{ email }}")

    assert [(p.part, p.line) for p in error.problems] == [("subject", 1), ("body", 2)]
    assert "unknown variable 'email'" in error.problems[0].message
    assert "unknown variable 'fist_name'; did you mean 'first_name'?" in error.problems[1].message


def test_an_attribute_of_a_known_variable_is_refused_at_render_too() -> None:
    # `loop.cycle` is a real attribute of a loop, but not one the list allows.
    error = refused("{% for c in 'ab' %}\n{{ loop.cycle('x', 'y') }}{% endfor %}")

    assert error.problems[0].line == 2
    assert error.problems[0].message.startswith("'.cycle' is not allowed")


def test_a_syntax_error_is_refused_with_its_line_in_every_part() -> None:
    error = refused(
        "Line one\n\n{{ first_name | }}",
        subject="{% if first_name %}",
        preheader="{{ }}",
        text="ok\n{% for %}",
    )

    assert [(p.part, p.line) for p in error.problems] == [
        ("subject", 1),
        ("preheader", 1),
        ("body", 3),
        ("text", 2),
    ]
    assert "Unexpected end of template" in error.problems[0].message


BOMBS = {
    "nested loops printing nothing": "{% for a in first_name %}{% for b in first_name %}"
    "{% for c in first_name %}{% endfor %}{% endfor %}{% endfor %}",
    "string times a billion": "{{ 'x' * 10**9 }}",
    "power": "{{ 2 ** (10**8) }}",
    # Jinja's ** is left-associative: 2 ** 10**8 is (2**10)**8, small; these are not.
    "power of a power": "{{ (2 ** 64) ** (2 ** 20) }}",
    "percent padding": "{{ '%999999999s' % first_name }}",
    "long repeat of the name": "{{ first_name * 100000 }}",
    "a loop over a long repeat": "{% for a in first_name * 1000 %}{% endfor %}",
    "doubling through loop variables": "{% for a in [first_name ~ first_name] %}"
    + "".join("{% for a in [a ~ a] %}" for _ in range(12))
    + "{{ a|length }}"
    + "{% endfor %}" * 13,
    "urlencode of urlencode": "{% for a in [first_name * 50] %}"
    + "".join("{% for a in [a|urlencode] %}" for _ in range(8))
    + "{{ a|length }}"
    + "{% endfor %}" * 9,
}


@pytest.mark.parametrize("body", BOMBS.values(), ids=BOMBS.keys())
def test_time_and_size_bombs_are_refused_quickly(body: str) -> None:
    started = time.perf_counter()
    error = refused(f"Hi\n{body}")
    elapsed = time.perf_counter() - started

    assert elapsed < 2
    assert error.problems[0].part == "body" and error.problems[0].line == 2
    assert error.problems[0].message.startswith("not allowed: ")


SHAPES = {
    "a list of lists": ("{% for b in [[first_name, first_name]] %}{{ b }}{% endfor %}", 2),
    "a list repeated": ("{% for b in [first_name] * 100 %}{% endfor %}", 2),
    "a printed list": ("{{ [first_name, first_name] }}", 2),
    "a name bound with set": ("{% set a = first_name ~ first_name %}{{ a ~ a }}", 2),
    "nesting past the parser": ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", None),
    "loops nested past Python": ("{% for c in first_name %}" * 25 + "{% endfor %}" * 25, None),
}


@pytest.mark.parametrize("body, line", SHAPES.values(), ids=SHAPES.keys())
def test_shapes_that_could_grow_without_bound_are_refused_before_running(
    body: str, line: int | None
) -> None:
    started = time.perf_counter()
    error = refused(f"Hi\n{body}")

    assert time.perf_counter() - started < 2
    assert error.problems[0].line == line
    assert not error.problems[0].message.startswith("not allowed: ")  # found without running


def test_the_trace_deadline_stops_a_loop_the_budget_does_not_count() -> None:
    # Straight from the sandbox, without the budget compile_draft puts on every loop.
    template = sandbox.TEXT.from_string(
        "{% for a in s %}{% for b in s %}{% for c in s %}{% endfor %}{% endfor %}{% endfor %}"
    )
    outcome: list[BaseException] = []

    def render() -> None:
        try:
            sandbox.run_with_deadline(template, {"s": "x" * 1000}, 100, 0.2)
        except sandbox.DeadlineExceeded as exc:
            outcome.append(exc)

    started = time.perf_counter()
    worker = threading.Thread(target=render)  # sys.settrace holds off the main thread too
    worker.start()
    worker.join(timeout=2)

    assert not worker.is_alive() and time.perf_counter() - started < 2
    assert [str(e) for e in outcome] == ["rendering took longer than 0.2 s"]
    assert sys.gettrace() is None or sys.gettrace() is not outcome  # this thread untouched


class _SlowGarbage:
    """A cycle whose finaliser takes 0.3 s of CPU: what a big process's collection can cost."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        end = time.thread_time() + 0.3
        while time.thread_time() < end:
            pass


class _CollectsWhenPrinted:
    """A value whose printing runs the garbage collector, as any allocation may."""

    def __str__(self) -> str:
        gc.collect()
        return "Alex"


def test_a_collection_during_the_render_is_not_the_templates_time() -> None:
    template = sandbox.TEXT.from_string("Hi {{ name }}, and again {{ name }}.")
    _SlowGarbage()  # unreachable now: the next collection finalises it, 0.3 s of CPU
    unraisable: list[object] = []
    previous, sys.unraisablehook = sys.unraisablehook, unraisable.append

    try:
        out = sandbox.run_with_deadline(template, {"name": _CollectsWhenPrinted()}, 100, 0.2)
    finally:
        sys.unraisablehook = previous

    # Before, the deadline fired inside the finaliser (an exception no one sees) and then in
    # the template: a template that costs nothing was refused as too slow.
    assert out == "Hi Alex, and again Alex."
    assert unraisable == []


def test_the_deadline_stops_loops_that_print_nothing_when_the_budget_would_not() -> None:
    limits = Limits(loop_iterations=10**12, render_seconds=0.2)
    loops = "".join("{% for x in first_name %}" for _ in range(5)) + "{% endfor %}" * 5

    started = time.perf_counter()
    error = refused(loops, limits=limits)

    assert time.perf_counter() - started < 2
    # "Alex" five loops deep is 1,024 turns; the longest name's 80 is 3 billion.
    assert error.problems[0].message == (
        "rendering took longer than 0.2 s (for the longest recipient)"
    )


def test_the_deadline_holds_in_a_thread_other_than_the_main_one() -> None:
    limits = Limits(loop_iterations=10**12, render_seconds=0.2)
    loops = "".join("{% for x in first_name %}" for _ in range(5)) + "{% endfor %}" * 5
    outcome: list[BaseException] = []

    def save() -> None:
        try:
            build(loops, limits=limits)
        except DraftRejected as exc:
            outcome.append(exc)

    worker = threading.Thread(target=save)
    worker.start()
    worker.join(timeout=2)

    assert not worker.is_alive()
    assert outcome and "took longer" in str(outcome[0])


def test_size_is_checked_for_the_longest_recipient_not_only_the_sample() -> None:
    body = "{{ first_name }} " * 30  # 'Alex' x 30 is small; 80 escaped characters x 30 is not
    limits = Limits(html_bytes=5_000)

    error = refused(body, limits=limits)

    assert error.problems[0].part == "body"
    assert "for the longest recipient; the limit is 5000" in error.problems[0].message


@pytest.mark.parametrize(
    ("part", "source", "who"),
    [
        ("body", "Hello {{ 10 // (first_name|length - 3) }}", "a three-letter name, Bob"),
        ("body", "Hello {{ 10 // (first_name|length - 1) }}", "a one-letter name, A"),
        ("body", "Hi {{ first_name[3] }}", "a recipient without a name"),
        ("subject", "{{ 1 // (first_name|length - 2) }} news", "a two-letter name, Al"),
        ("body", "{{ 10 // (first_name|length - 9) }}", "an English name, Alexander"),
        (
            "body",
            "{% if first_name|length == 1 and first_name > 'z' %}{{ first_name[1] }}{% endif %}",
            "Cyrillic name, Я",
        ),
    ],
)
def test_a_template_that_fails_for_a_common_name_is_refused_on_save(
    part: str, source: str, who: str
) -> None:
    kwargs: dict[str, Any] = {"subject": source} if part == "subject" else {}
    error = refused("Hi" if part == "subject" else source, **kwargs)

    assert error.problems[0].part == part
    assert who in error.problems[0].message


def test_edge_names_of_every_script_and_length_render_when_the_template_is_sound() -> None:
    compiled = build(
        "Hello {{ first_name|default('friend', true)|title }}, "
        "{{ first_name[:1]|upper }} {{ first_name|length }}"
    )

    for name in ("", "A", "Ян", "王秀英", "محمد", "Wolfeschlegelsteinhausenbergerdorff"):
        assert "Hello" in send(compiled, name).text


def test_the_whole_email_must_fit_too() -> None:
    error = refused("word " * 900, limits=Limits(html_bytes=4_600))

    assert error.problems[0].part == "body"
    assert "the limit is 4600" in error.problems[0].message


def test_a_loop_bomb_only_one_name_triggers_still_stops_at_that_recipient() -> None:
    compiled = build(
        "{% if first_name == 'Zed' %}{% for a in first_name * 40 %}{% for b in first_name * 40 %}"
        "{% endfor %}{% endfor %}{% endif %}Hi"
    )

    assert "Hi" in send(compiled, "Anna").html
    started = time.perf_counter()
    with pytest.raises(RenderFailed, match="loops ran more than 1000 times"):
        send(compiled, "Zed")
    assert time.perf_counter() - started < 0.5


def test_a_tag_the_html_parser_would_move_out_of_a_table_is_refused() -> None:
    error = refused(
        "<table>\n{% for c in first_name %}<tr><td>{{ c }}</td></tr>{% endfor %}\n</table>",
        body_format="html",
    )

    assert (error.problems[0].part, error.problems[0].line) == ("body", 2)
    assert "moved by the HTML parser" in error.problems[0].message


@pytest.mark.parametrize(
    "body, message",
    [
        ("See <{{ unsubscribe_url }}>", "was lost"),
        ('<a href="{{ first_name }}">x</a>', "a link must be {{ unsubscribe_url }}"),
        ('<a href="/offers">x</a>', "the link '/offers' is not a full address"),
        (
            '<img src="https://pixel.example/o.gif?u={{ unsubscribe_url|urlencode }}">',
            "can't carry the recipient's details",
        ),
        ('<p style="color: {{ first_name }}">x</p>', "can't be inside style="),
        ('<a href="https://x.example/{% if first_name %}a{% endif %}">x</a>', "can't be inside"),
    ],
)
def test_template_tags_where_html_can_not_keep_them_safely_are_refused(
    body: str, message: str
) -> None:
    error = refused(f"Intro\n\n{body}", body_format="html")

    assert error.problems[0].line == 3
    assert message in error.problems[0].message


def test_a_campaign_value_may_complete_a_link_to_another_site() -> None:
    compiled = build(
        "[Shop](https://shop.example/?utm_campaign={{ campaign_name|urlencode }})",
        constants={"campaign_name": "spring sale", "locale": "en"},
    )

    assert "https://shop.example/?utm_campaign=spring%20sale" in Links(send(compiled).html).hrefs


# --- What the console shows and what the layout must do -----------------------------------


def test_the_documented_variables_are_exactly_what_templates_may_use() -> None:
    assert set(VARIABLES) == set(RECIPIENT_VARIABLES) | set(CAMPAIGN_VARIABLES)
    assert all(text and "\n" not in text for text in VARIABLES.values())
    body = " ".join("{{ " + name + " }}" for name in VARIABLES)

    assert send(build(body, constants={"locale": "en"})).html


def test_a_layout_without_an_unsubscribe_link_is_refused() -> None:
    with pytest.raises(LayoutError, match="unsubscribe_url"):
        build("Hi", layout=("<p>{{ body_html }}</p>", "{{ body_text }}"))


def test_unknown_campaign_constants_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not campaign variables: first_name"):
        build("Hi", constants={"first_name": "Anna"})


def test_the_authoring_engine_imports_no_flask_sqlalchemy_or_invites() -> None:
    code = (
        "import sys, mailer.authoring; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'flask', 'sqlalchemy', 'invites'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"
