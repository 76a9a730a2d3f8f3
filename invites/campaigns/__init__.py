"""Marketing campaigns: content staff write, the audience at send time, batched delivery."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register test sends with the engine, and the tick that keeps campaigns moving."""
    from invites.campaigns import models  # noqa: F401 - its tables belong to the metadata
    from invites.campaigns.testsend import CampaignTest
    from invites.core import periodic
    from invites.core.queue import MAIL_QUEUE
    from invites.delivery import kinds

    kinds.register(CampaignTest())
    # On the mail queue: short, and it must not wait behind long campaign batches.
    periodic.every(
        lambda s: s.campaign_tick_seconds, "invites.campaigns.jobs.campaign_tick", MAIL_QUEUE
    )
