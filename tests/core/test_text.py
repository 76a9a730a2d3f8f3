"""Cleaning user-supplied text."""

from __future__ import annotations

from invites.core.text import clean_block, clean_line, defang_links


def test_clean_line() -> None:
    assert clean_line(" Anna\r\nBcc: x@y \t K.\x00\x1b\u202e\u200b ") == "Anna Bcc: x@y K."
    assert clean_line("\x00\u202e") == ""


def test_clean_block_keeps_paragraphs() -> None:
    assert clean_block("Hi!\r\n\r\n\r\n\r\nSee you\x07 soon  ") == "Hi!\n\nSee you soon"


def test_defang_links() -> None:
    out = defang_links("go to https://evil.example/x or www.phish.example or shop.example.com")
    assert "https://" not in out and "evil.example" not in out
    assert "www.phish" not in out and "shop.example.com" not in out
    assert out.replace("\u200b", "") == (
        "go to https://evil.example/x or www.phish.example or shop.example.com"
    )
    assert defang_links("Hello, see you at 5.30!") == "Hello, see you at 5.30!"
