"""Fixtures for campaign stories."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask

from invites.core.config import Settings

from ..support.helpers import make_app
from ..support.smtpd import SMTPSink


@pytest.fixture()
def camp(app: Flask, settings: Settings, smtp_sink: SMTPSink) -> Flask:
    """An app delivering to the sink, on the `app` fixture's clean tables, small batches."""
    return make_app(
        dataclasses.replace(
            settings,
            smtp_url=smtp_sink.url,
            campaign_batch_size=40,
            campaign_lease_seconds=2,
            retry_base_seconds=0,
        )
    )
