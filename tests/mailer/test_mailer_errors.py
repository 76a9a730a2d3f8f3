"""Redaction: no address survives in a delivery error, however the text is shaped."""

from __future__ import annotations

import time

import pytest

from mailer import PermanentError, redact


@pytest.mark.parametrize(
    "text, expected",
    [
        ("550 5.1.1 <x.y@example.org>: no such user", "550 5.1.1 <<address>>: no such user"),
        ("to prív@example.org failed", "to <address> failed"),
        ("a@b and c@d.e", "<address> and <address>"),
        ("user@@host.example", "<address>"),
        ("no address here", "no address here"),
        ("@", "<address>"),
    ],
)
def test_addresses_are_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_an_error_never_keeps_the_address_it_was_given() -> None:
    error = PermanentError("5.1.1 <gone@example.org>: Recipient address rejected", 550)

    assert "gone@" not in str(error) and "example.org" not in str(error)
    assert str(error) == "550 5.1.1 <<address>>: Recipient address rejected"


@pytest.mark.parametrize("shape", ["a" * 200_000, "@" * 200_000, ("a" * 99 + "@") * 2000])
def test_hostile_text_is_cut_and_scanned_in_linear_time(shape: str) -> None:
    started = time.perf_counter()
    out = redact(shape, limit=len(shape))
    assert time.perf_counter() - started < 0.5
    assert "@" not in out or out.count("<address>") >= 1
    assert len(redact(shape)) <= 1000 + len("<address>")


def test_a_quoted_local_part_is_replaced_whole() -> None:
    assert redact('550 <"john smith"@example.org> unknown') == "550 <<address>> unknown"
