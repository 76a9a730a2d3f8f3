"""Which campaign an unsubscribe, a complaint or a hard bounce belongs to: counted, in aggregate.

Nothing about the person is kept: only the campaign's counter moves. A complaint or bounce
names its campaign by the Message-ID the campaign gave the message (`<campaign-ID.…>`), or,
when the report doesn't carry it, through the ledger: the last campaign sent to that address.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from invites.accounts.models import Contact
from invites.campaigns.models import CampaignCount, CampaignDelivery, Delivery
from invites.core.db import AnySession, bump

_MESSAGE_ID = re.compile(r"<campaign-(\d{1,18})\.")
#: What can be attributed.
EVENTS = ("unsubscribed", "complained", "bounced")


def attribute(session: AnySession, campaign_id: int, name: str) -> None:
    """Count one event against a campaign."""
    if name not in EVENTS:
        raise ValueError(f"unknown campaign event {name!r}")
    bump(session, CampaignCount.__table__, {"campaign_id": campaign_id, "name": name}, count=1)


def campaign_of(session: AnySession, email_hash: str, message_id: str | None) -> int | None:
    """The campaign a report about this address (and message, if named) concerns, if any."""
    found = _MESSAGE_ID.search(message_id or "")
    if found:
        return int(found.group(1))
    return session.scalar(
        select(CampaignDelivery.campaign_id)
        .join(Contact, Contact.id == CampaignDelivery.contact_id)
        .where(Contact.email_hash == email_hash, CampaignDelivery.status == Delivery.SENT)
        .order_by(CampaignDelivery.sent_at.desc())
        .limit(1)
    )


def attribute_report(
    session: AnySession, email_hash: str, message_id: str | None, name: str
) -> int | None:
    """Count a complaint or bounce against its campaign; return the campaign, if one."""
    campaign_id = campaign_of(session, email_hash, message_id)
    if campaign_id is not None:
        attribute(session, campaign_id, name)
    return campaign_id
