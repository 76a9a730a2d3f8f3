"""Placeholder: the preference centre (being written)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the preference centre."""
