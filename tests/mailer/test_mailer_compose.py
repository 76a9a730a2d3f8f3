"""Composing messages: headers written byte by byte, parts, and every injection we know of."""

from __future__ import annotations

import base64
import email.policy
import re
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest

from mailer import HeaderError, Mailbox, Outgoing
from mailer.compose import compose

UNSUB = "https://spotcam.example/u/AbC123.signed-token_value"


def build(**overrides: Any) -> Outgoing:
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


def parse(msg: Outgoing) -> EmailMessage:
    """Read the message back the way a recipient would."""
    parsed = BytesParser(policy=email.policy.default).parsebytes(msg.data)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(parsed: EmailMessage, subtype: str) -> str:
    """The decoded text of the message's text/<subtype> body."""
    part = parsed.get_body((subtype,))
    assert part is not None, f"no text/{subtype} body"
    content = part.get_content()
    assert isinstance(content, str)
    return content


def header_names(msg: Outgoing) -> list[str]:
    """The field names of the top-level header block, read from the raw bytes."""
    head = msg.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return [line.split(":", 1)[0] for line in head.split("\r\n") if not line.startswith(" ")]


def display_name(msg: Outgoing, field: str) -> str:
    """A field's display name decoded as RFC 2047 says (the stdlib's phrase parser keeps the
    folding space between two encoded-words, which RFC 2047 section 6.2 drops)."""
    head = msg.data.split(b"\r\n\r\n", 1)[0].decode("ascii").replace("\r\n ", " ")
    [value] = [line.split(": ", 1)[1] for line in head.split("\r\n") if line.startswith(field)]
    return str(make_header(decode_header(value.rpartition(" <")[0])))


def test_compose_has_headers_and_text_then_html_parts() -> None:
    msg = build(reply_to="support@spotcam.example", extra_headers={"X-Campaign": "42"})
    got = parse(msg)

    assert got["From"] == "SpotCam <hello@spotcam.example>"
    assert got["To"] == "bob@example.org"
    assert got["Reply-To"] == "support@spotcam.example"
    assert got["Subject"] == "You are invited"
    assert got["X-Campaign"] == "42"
    assert got["Date"].datetime is not None
    assert got["Message-ID"] == msg.message_id
    assert msg.message_id.startswith("<") and msg.message_id.endswith("@spotcam.example>")
    assert (msg.sender, msg.recipient) == ("hello@spotcam.example", "bob@example.org")
    assert got.get_content_type() == "multipart/alternative"
    plain, html = got.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert plain.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
    assert "Join: https://spotcam.example/i/abc" in plain.get_content()
    assert "<b>Bob</b>" in html.get_content()


def test_bytes_use_crlf_only_and_stay_ascii() -> None:
    raw = build(subject="Привет", text="Привет " * 200, html="<p>" + "é" * 2000 + "</p>").data

    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert raw.isascii()  # no 8BITMIME needed from any relay
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


def test_a_derived_message_id_is_used_as_given() -> None:
    msg = build(message_id_local="c42.r7")

    assert msg.message_id == "<c42.r7@spotcam.example>"
    assert parse(msg)["Message-ID"] == "<c42.r7@spotcam.example>"


def test_russian_subject_and_display_name_round_trip() -> None:
    msg = build(
        sender=Mailbox("Анна Петрова", "anna@spotcam.example"),
        subject="Анна пригласила вас",
        text="Привет, Боб!",
        html="<p>Привет, Боб!</p>",
    )
    headers = msg.data.split(b"\r\n\r\n", 1)[0]

    # Headers stay ASCII on the wire: non-ASCII goes into RFC 2047 encoded-words.
    assert headers.isascii()
    assert b"=?utf-8?b?" in headers
    got = parse(msg)
    assert got["Subject"] == "Анна пригласила вас"
    assert got["From"].addresses[0].display_name == "Анна Петрова"
    assert got["From"].addresses[0].addr_spec == "anna@spotcam.example"
    assert body(got, "plain").strip() == "Привет, Боб!"


def test_display_names_with_specials_are_quoted() -> None:
    got = parse(build(sender=Mailbox('Bob "B" Smith, Jr.', "bob@example.org")))

    assert got["From"].addresses[0].display_name == 'Bob "B" Smith, Jr.'
    assert got["From"].addresses[0].addr_spec == "bob@example.org"


def test_list_unsubscribe_headers_set_exactly_once_when_url_given() -> None:
    msg = build(unsubscribe_url=UNSUB)

    assert msg.data.count(b"\r\nList-Unsubscribe:") == 1
    assert msg.data.count(b"\r\nList-Unsubscribe-Post:") == 1
    got = parse(msg)
    assert got["List-Unsubscribe"] == f"<{UNSUB}>"
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_no_list_unsubscribe_without_url() -> None:
    assert b"List-Unsubscribe" not in build().data


def test_long_unsubscribe_url_is_kept_verbatim_on_one_line() -> None:
    url = "https://spotcam.example/unsubscribe/" + "x" * 200

    raw = build(unsubscribe_url=url).data

    # Folded into encoded-words, no mail client would read it as a URI.
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


RAW_INJECTIONS = ["\r\nBcc: x@y", "\nBcc: x@y", "\rBcc: x@y", "\x00", "\u2028Bcc: x@y", "\x85"]


@pytest.mark.parametrize("payload", RAW_INJECTIONS)
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
def test_raw_line_breaks_are_refused(field: str, value: str, payload: str) -> None:
    with pytest.raises(ValueError) as info:
        build(**{field: value.format(payload)})
    assert "x@y" not in str(info.value)  # errors name the field, never echo the value


def _q(text: str) -> str:
    return "=?utf-8?q?" + text.replace(" ", "_") + "?="


def _b(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


# Encoded-words that decode to line breaks: the stdlib on CPython 3.11.7 writes such text back
# raw, which forged a second Content-Type, a Reply-To or a Bcc (issue 8).
ENCODED_INJECTIONS = [
    "=?utf-8?q?=0D=0AContent-Type:_text/html=0D=0A=0D=0A<a_href=//evil=2Eco>Win</a>?=",
    _q("=0D=0AReply-To: attacker@evil.example"),
    _q("=0D=0ABcc: victim@example.org"),
    _q("=0D=0AX-Injected: yes"),
    _b("\r\nBcc: victim@example.org"),
    _b("\r\nContent-Type: text/html\r\n\r\n<a href=//evil.co>Win</a>"),
    "=?UTF-8?Q?=0A?=Bcc: victim@example.org",
]


@pytest.mark.parametrize("payload", ENCODED_INJECTIONS)
def test_encoded_words_in_user_text_are_never_decoded(payload: str) -> None:
    subject = f"{payload} invited you"
    msg = build(
        subject=subject,
        sender=Mailbox(payload, "hello@spotcam.example"),
        reply_to=Mailbox(payload, "support@spotcam.example"),
        extra_headers={"X-Note": payload},
    )

    assert header_names(msg) == [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "Reply-To",
        "X-Note",
        "MIME-Version",
        "Content-Type",
    ]
    assert re.findall(rb"(?im)^content-type:", msg.data).count(b"Content-Type:") == 3
    got = parse(msg)
    # A reader's client shows exactly what was typed, encoded-word syntax and all.
    assert got["Subject"] == subject
    assert got["X-Note"] == payload
    assert display_name(msg, "From") == payload
    assert got["Reply-To"].addresses[0].addr_spec == "support@spotcam.example"
    assert got["Bcc"] is None
    assert [p.get_content_type() for p in got.iter_parts()] == ["text/plain", "text/html"]


def test_an_encoded_word_in_a_local_part_is_refused() -> None:
    with pytest.raises(HeaderError):
        build(to="=?utf-8?q?=0D=0ABcc=3A_x=40evil.example?=@example.com")


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
    "to",
    [
        "bob@example.org, eve@example.org",
        "x@",
        "not an address",
        "",
        "боб@example.org",
        "Bob <bob@example.org>",
        "bob@пример.рф",  # the address layer turns Unicode domains into IDNA 2008 A-labels
        '"a b"@example.org',
    ],
)
def test_to_must_be_exactly_one_ascii_addr_spec(to: str) -> None:
    with pytest.raises(ValueError):
        build(to=to)


def test_a_domain_given_as_a_labels_goes_out_as_it_is() -> None:
    msg = build(to="x@xn--fa-hia.de")

    assert msg.recipient == "x@xn--fa-hia.de"
    assert parse(msg)["To"].addresses[0].addr_spec == "x@xn--fa-hia.de"


def test_a_body_line_longer_than_998_octets_is_encoded() -> None:
    got = parse(build(html="<p>" + "a" * 5000 + "</p>"))

    assert body(got, "html").strip() == "<p>" + "a" * 5000 + "</p>"


def test_a_body_that_contains_the_boundary_is_not_cut() -> None:
    msg = build(text="--=_ looks like ours\n")

    assert "--=_ looks like ours" in body(parse(msg), "plain")
