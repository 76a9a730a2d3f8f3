"""Feedback about sent mail: bounces and complaints, and what they suppress."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Have passed soft-bounce windows forgotten hourly."""
    from invites.core import periodic
    from invites.core.queue import MAIL_QUEUE

    periodic.every(3600, "invites.feedback.jobs.forget_soft_bounce_windows", MAIL_QUEUE)
