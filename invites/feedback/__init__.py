"""Feedback about sent mail: bounces and complaints, and what they suppress."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Nothing to wire: the job that forgets old soft-bounce counts is named in the
    processing register, which has the scheduler run it (`invites.privacy`)."""
