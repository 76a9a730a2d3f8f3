from __future__ import annotations

import email.policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest

from mailer.compose import compose, format_address, message_bytes

UNSUB = "https://spotcam.example/u/AbC123.signed-token_value"


def build(**overrides: Any) -> EmailMessage:
    fields: dict[str, Any] = {
        "sender": "SpotCam <hello@spotcam.example>",
        "to": "bob@example.org",
        "subject": "You are invited",
        "text": "Hello Bob\nJoin: https://spotcam.example/i/abc\n",
        "html": "<p>Hello <b>Bob</b></p>",
        "message_id_domain": "spotcam.example",
    }
    fields.update(overrides)
    return compose(**fields)


def parse(msg: EmailMessage) -> EmailMessage:
    """Read the message back the way a recipient would."""
    parsed = BytesParser(policy=email.policy.default).parsebytes(message_bytes(msg))
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_compose_has_headers_and_text_then_html_parts() -> None:
    got = parse(build(reply_to="support@spotcam.example", extra_headers={"X-Campaign": "42"}))

    assert got["From"] == "SpotCam <hello@spotcam.example>"
    assert got["To"] == "bob@example.org"
    assert got["Reply-To"] == "support@spotcam.example"
    assert got["Subject"] == "You are invited"
    assert got["X-Campaign"] == "42"
    assert got["Date"].datetime is not None
    assert got["Message-ID"].startswith("<") and got["Message-ID"].endswith("@spotcam.example>")
    assert got.get_content_type() == "multipart/alternative"
    plain, html = got.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert plain.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
    assert "Join: https://spotcam.example/i/abc" in plain.get_content()
    assert "<b>Bob</b>" in html.get_content()


def test_message_bytes_uses_crlf_only() -> None:
    raw = message_bytes(build())

    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_russian_subject_and_display_name_round_trip() -> None:
    msg = build(
        sender=format_address("Анна Петрова", "anna@spotcam.example"),
        subject="Анна пригласила вас",
        text="Привет, Боб!",
        html="<p>Привет, Боб!</p>",
    )
    raw = message_bytes(msg)
    headers = raw.split(b"\r\n\r\n", 1)[0]

    # Headers stay ASCII on the wire: non-ASCII goes into RFC 2047 encoded-words.
    assert headers.isascii()
    assert b"=?utf-8?" in headers
    got = parse(msg)
    assert got["Subject"] == "Анна пригласила вас"
    assert got["From"].addresses[0].display_name == "Анна Петрова"
    assert got["From"].addresses[0].addr_spec == "anna@spotcam.example"
    assert got.get_body(("plain",)).get_content().strip() == "Привет, Боб!"  # type: ignore[union-attr]


def test_list_unsubscribe_headers_set_exactly_once_when_url_given() -> None:
    raw = message_bytes(build(unsubscribe_url=UNSUB))

    assert raw.count(b"\r\nList-Unsubscribe:") == 1
    assert raw.count(b"\r\nList-Unsubscribe-Post:") == 1
    got = parse(build(unsubscribe_url=UNSUB))
    assert got["List-Unsubscribe"] == f"<{UNSUB}>"
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_no_list_unsubscribe_without_url() -> None:
    raw = message_bytes(build())

    assert b"List-Unsubscribe" not in raw


def test_long_unsubscribe_url_is_kept_verbatim_on_one_line() -> None:
    url = "https://spotcam.example/unsubscribe/" + "x" * 200

    raw = message_bytes(build(unsubscribe_url=url))

    # The stdlib would otherwise fold it into encoded-words that no mail client reads as a URI.
    assert f"\r\nList-Unsubscribe: <{url}>\r\n".encode() in raw


def test_plain_http_unsubscribe_url_is_allowed_for_development() -> None:
    got = parse(build(unsubscribe_url="http://localhost:5000/u/tok"))

    assert got["List-Unsubscribe"] == "<http://localhost:5000/u/tok>"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://spotcam.example/u",
        "mailto:unsub@spotcam.example",
        "/u/relative",
        "https://",
        "https://spotcam.example/u/a>, <https://evil.example",
        "https://spotcam.example/u/ä",
    ],
)
def test_unsubscribe_url_must_be_absolute_http(url: str) -> None:
    with pytest.raises(ValueError):
        build(unsubscribe_url=url)


INJECTIONS = ["\r\nBcc: x@y", "\nBcc: x@y", "\rBcc: x@y", "\x00", "\u2028Bcc: x@y", "\x85"]


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize(
    "field, value",
    [
        ("subject", "Hello{}"),
        ("sender", "SpotCam <hello@spotcam.example>{}"),
        ("sender", "Spot{}Cam <hello@spotcam.example>"),
        ("to", "bob@example.org{}"),
        ("reply_to", "support@spotcam.example{}"),
        ("unsubscribe_url", UNSUB + "{}"),
        ("message_id_domain", "spotcam.example{}"),
    ],
)
def test_header_injection_is_refused(field: str, value: str, payload: str) -> None:
    with pytest.raises(ValueError):
        build(**{field: value.format(payload)})


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Tag": "a\r\nBcc: x@y"},
        {"X-Tag\r\nBcc": "x@y"},
        {"X Tag": "a"},
        {"X-Tag:": "a"},
        {"Bcc": "x@y"},
        {"List-Unsubscribe": "<https://elsewhere.example>"},
        {"list-unsubscribe-post": "List-Unsubscribe=One-Click"},
    ],
)
def test_extra_headers_cannot_inject_or_override(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        build(extra_headers=headers)


@pytest.mark.parametrize(
    "to", ["bob@example.org, eve@example.org", "x@", "not an address", "", "боб@example.org"]
)
def test_to_must_be_exactly_one_valid_address(to: str) -> None:
    with pytest.raises(ValueError):
        build(to=to)


def test_internationalized_domains_are_sent_as_punycode() -> None:
    got = parse(build(sender=format_address("Анна", "anna@пример.рф"), to="Боб <bob@пример.рф>"))

    assert got["To"].addresses[0].addr_spec == "bob@xn--e1afmkfd.xn--p1ai"
    assert got["To"].addresses[0].display_name == "Боб"
    assert got["From"].addresses[0].addr_spec == "anna@xn--e1afmkfd.xn--p1ai"


def test_format_address_strips_control_characters_from_the_name() -> None:
    formatted = format_address("Eve\r\nBcc: victim@example.org", "eve@example.org")

    assert "\r" not in formatted and "\n" not in formatted
    got = parse(build(sender=formatted))
    assert got["Bcc"] is None
    assert got["From"].addresses[0].addr_spec == "eve@example.org"


def test_format_address_quotes_specials_and_encodes_non_ascii() -> None:
    assert format_address('Bob "B" Smith, Jr.', "bob@example.org") == (
        '"Bob \\"B\\" Smith, Jr." <bob@example.org>'
    )
    assert format_address("Анна", "anna@example.org").isascii()
    assert format_address("", "anna@example.org") == "anna@example.org"


@pytest.mark.parametrize("address", ["a@b.c\r\nBcc: x@y", "анна@example.org", "no-at-sign"])
def test_format_address_rejects_bad_addresses(address: str) -> None:
    with pytest.raises(ValueError):
        format_address("Anna", address)


def test_package_reexports_the_public_interface() -> None:
    import mailer

    for name in mailer.__all__:
        assert getattr(mailer, name) is not None
    assert mailer.compose is compose
