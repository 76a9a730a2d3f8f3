from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import TemplateNotFound, UndefinedError

from mailer.render import Rendered, Renderer, UnknownTemplate, UnsafeTemplate, render_sandboxed

STYLE = "<style>p { color: #123456; } @media (max-width: 600px) { p { font-size: 18px; } }</style>"


def write(root: Path, locale: str, name: str, subject: str, text: str, html: str) -> None:
    folder = root / locale
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.subject.txt").write_text(subject, encoding="utf-8")
    (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    (folder / f"{name}.html").write_text(html, encoding="utf-8")


@pytest.fixture
def template_dir(tmp_path: Path) -> Path:
    html = "<html><head>{style}</head><body><p>{body}</p></body></html>"
    write(
        tmp_path,
        "en",
        "invite",
        "{{ inviter }} invited you\n",
        "Hi! {{ inviter }} invited you: {{ url }}\n",
        html.format(style=STYLE, body="{{ inviter }} invited you: <a href='{{ url }}'>join</a>"),
    )
    write(
        tmp_path,
        "ru",
        "invite",
        "{{ inviter }} пригласила вас",
        "Привет! {{ inviter }} пригласила вас: {{ url }}\n",
        html.format(style=STYLE, body="{{ inviter }} пригласила вас"),
    )
    write(tmp_path, "en", "receipt", "Receipt {{ n }}", "Receipt {{ n }}", "<p>{{ n }}</p>")
    # Incomplete in ru: no html part, so the whole template falls back to en.
    (tmp_path / "ru" / "receipt.subject.txt").write_text("Чек", encoding="utf-8")
    return tmp_path


@pytest.fixture
def renderer(template_dir: Path) -> Renderer:
    return Renderer(template_dir)


CONTEXT = {"inviter": "Anna", "url": "https://spotcam.example/i/abc"}


def test_render_english(renderer: Renderer) -> None:
    got = renderer.render("invite", "en", CONTEXT)

    assert isinstance(got, Rendered)
    assert got.subject == "Anna invited you"
    assert got.text == "Hi! Anna invited you: https://spotcam.example/i/abc"
    assert 'href="https://spotcam.example/i/abc"' in got.html


def test_render_russian(renderer: Renderer) -> None:
    got = renderer.render("invite", "ru", {**CONTEXT, "inviter": "Анна"})

    assert got.subject == "Анна пригласила вас"
    assert got.text.startswith("Привет! Анна пригласила вас")
    assert "Анна пригласила вас" in got.html


@pytest.mark.parametrize(
    "locale, expected",
    [
        ("de", "Anna invited you"),
        ("ru-RU", "Анна пригласила вас"),
        ("ru_RU", "Анна пригласила вас"),
        ("../../etc", "Anna invited you"),
        ("", "Anna invited you"),
    ],
)
def test_unknown_locale_falls_back(renderer: Renderer, locale: str, expected: str) -> None:
    got = renderer.render("invite", locale, {**CONTEXT, "inviter": expected.split()[0]})

    assert got.subject == expected


def test_incomplete_locale_falls_back_to_default(renderer: Renderer) -> None:
    assert renderer.render("receipt", "ru", {"n": 7}).subject == "Receipt 7"


def test_html_is_autoescaped_but_text_and_subject_are_not(renderer: Renderer) -> None:
    got = renderer.render("invite", "en", {**CONTEXT, "inviter": "<script>x</script> & Co"})

    assert "<script>" not in got.html
    assert "&lt;script&gt;x&lt;/script&gt; &amp; Co" in got.html
    assert got.text.startswith("Hi! <script>x</script> & Co invited")
    assert got.subject == "<script>x</script> & Co invited you"


def test_subject_is_collapsed_to_one_line(renderer: Renderer) -> None:
    got = renderer.render("invite", "en", {**CONTEXT, "inviter": "Eve\r\nBcc: x@y\x00 \t Co"})

    assert got.subject == "Eve Bcc: x@y Co invited you"


def test_missing_variable_raises(renderer: Renderer) -> None:
    with pytest.raises(UndefinedError):
        renderer.render("invite", "en", {"inviter": "Anna"})


def test_css_is_inlined_and_media_queries_kept(renderer: Renderer) -> None:
    got = renderer.render("invite", "en", CONTEXT)

    assert 'style="color: #123456;"' in got.html
    assert "@media (max-width: 600px)" in got.html


@pytest.mark.parametrize("name", ["nope", "../en/invite", "invite.html", ""])
def test_unknown_template(renderer: Renderer, name: str) -> None:
    with pytest.raises(UnknownTemplate) as info:
        renderer.render(name, "en", CONTEXT)

    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, TemplateNotFound)


def test_names_and_locales(renderer: Renderer) -> None:
    assert renderer.names() == ["invite", "receipt"]
    assert renderer.locales() == ["en", "ru"]


def test_missing_template_dir_has_no_templates(tmp_path: Path) -> None:
    renderer = Renderer(tmp_path / "missing")

    assert renderer.names() == [] and renderer.locales() == []
    with pytest.raises(UnknownTemplate):
        renderer.render("invite", "en", {})


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__.os }}",
        "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
        "{{ ''|attr('__class__') }}",
        "{{ '{0.__class__.__mro__}'.format(name) }}",
        # CVE-2025-27516: reaching str.format through the attr filter.
        "{{ ('{0.__class__.__init__.__globals__}'|attr('format'))(name) }}",
        "{{ name.__class__ }}",
    ],
)
def test_sandbox_refuses_escapes(source: str) -> None:
    with pytest.raises(UnsafeTemplate, match="sandbox"):
        render_sandboxed(source, {"name": "Anna"})


def test_sandbox_escapes_html_by_default() -> None:
    got = render_sandboxed("Hi {{ name }}", {"name": "<script>alert(1)</script>"})

    assert got == "Hi &lt;script&gt;alert(1)&lt;/script&gt;"


def test_sandbox_can_render_plain_text() -> None:
    got = render_sandboxed("Hi {{ name|upper }}", {"name": "<b>"}, autoescape=False)

    assert got == "Hi <B>"


def test_sandbox_is_strict_about_missing_variables() -> None:
    with pytest.raises(UndefinedError):
        render_sandboxed("Hi {{ nobody }}", {})


def test_sandbox_cannot_mutate_context() -> None:
    items: list[int] = [1]

    with pytest.raises(UnsafeTemplate):
        render_sandboxed("{{ items.append(2) }}", {"items": items})
    assert items == [1]
