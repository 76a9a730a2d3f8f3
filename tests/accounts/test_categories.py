"""The category register is the one source for behaviour, pages and docs."""

from __future__ import annotations

from invites.accounts.categories import CATEGORIES, MARKETING

from ..support.helpers import ROOT

README = ROOT / "README.md"


def test_register() -> None:
    assert set(CATEGORIES) == {"service", "promotional", "partner_offers"}
    assert MARKETING == ("promotional", "partner_offers")
    assert CATEGORIES["service"].default(False) is True
    assert CATEGORIES["partner_offers"].default(True) is False
    assert CATEGORIES["promotional"].default(True) is True
    assert CATEGORIES["promotional"].default(False) is False
    for category in CATEGORIES.values():
        assert set(category.title) == set(category.description) == {"en", "ru"}


def test_readme_table_matches_the_register() -> None:
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in README.read_text().splitlines()
        if line.startswith("| `") and "legal basis" not in line
    }
    for name, category in CATEGORIES.items():
        assert name in rows, f"README lacks a row for {name}"
        assert category.legal_basis in rows[name], name
