"""The pause before a step that can't be taken back: Send now, Schedule and Cancel first show
who it concerns, which category and when, and go ahead only from that page's own button.

Above `CAMPAIGN_CONFIRM_TYPED_ABOVE` people the page also asks for the number to be typed:
a click can be a reflex, typing "48 210" is not. The confirmation page is answered to the
same POST, so nothing changes until the person confirms; the step itself still locks the
campaign and refuses one that changed since the page was made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import current_app, render_template, request
from flask.typing import ResponseReturnValue

from invites.campaigns import segments
from invites.campaigns.models import Campaign, CampaignStatus
from invites.console.campaigns import reach_now
from invites.core.config import Settings

#: Form fields the confirmation page adds; the rest of the posted form is carried along.
_OWN_FIELDS = ("csrf_token", "confirmed", "shown_count", "typed_count")


@dataclass(frozen=True)
class Ask:
    """What the confirmation page says about one step."""

    endpoint: str
    title: str
    button: str
    #: How many people it concerns (None: a step that emails nobody, such as deleting a draft).
    count: int | None
    #: What the count is: "people it will email", "people it would still email".
    count_label: str
    when: str
    warning: str
    danger: bool = False


def _digits(text: str) -> str:
    # "48 210", "48,210" and "48210" are the same number to the person typing it.
    return re.sub(r"[\s,.'’_]", "", text)


def confirmed(ask: Ask, campaign: Campaign) -> ResponseReturnValue | None:
    """None when the posted form confirms this step; else the page that asks (or asks again)."""
    form = request.form
    settings: Settings = current_app.config["SETTINGS"]
    # A segmented audience of a handful shows as "fewer than 5", here as on every page: a
    # count that small would point at people. Nobody can type a number they aren't shown.
    display = None if ask.count is None else segments.shown(ask.count, bool(campaign.segment))
    blurred = display is not None and not display.isdigit()
    must_type = (
        ask.count is not None and not blurred and ask.count > settings.campaign_confirm_typed_above
    )
    problem = None
    if form.get("confirmed") == "yes":
        shown = form.get("shown_count", "")
        if not must_type:
            return None
        typed = _digits(form.get("typed_count", ""))
        if typed == shown and shown.isdigit():
            return None
        problem = (
            f"Type the number shown, {shown if shown.isdigit() else ask.count}, "
            "to confirm; nothing was done."
        )
    carried = [(k, v) for k, v in form.items(multi=True) if k not in _OWN_FIELDS]
    page = render_template(
        "console/campaigns/confirm.html",
        campaign=campaign,
        ask=ask,
        display=display,
        carried=carried,
        must_type=must_type,
        problem=problem,
        typed=form.get("typed_count", ""),
    )
    return page, (400 if problem else 200)


def count_for(campaign: Campaign, step: str, not_yet_sent: int | None = None) -> int:
    """How many people a step concerns: who would be emailed now, or, for cancelling a
    campaign under way, who hasn't been emailed yet."""
    if step == "cancel" and campaign.status in (CampaignStatus.SENDING, CampaignStatus.PAUSED):
        return not_yet_sent or 0
    return reach_now(campaign)
