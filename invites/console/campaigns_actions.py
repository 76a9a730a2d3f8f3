"""What changes a campaign's state from its page: each a POST, checked, audited, redirected.

The engine (invites.campaigns.lifecycle) checks and records each step; this only reads the
form, commits, and then wakes the workers — after the commit, so a job never runs ahead of
the state it needs.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, flash, request
from flask.typing import ResponseReturnValue

from invites.campaigns import jobs, lifecycle
from invites.campaigns.models import Campaign
from invites.console.access import current_staff
from invites.console.campaign_forms import FormError, schedule_form
from invites.console.campaigns import actor, bp, campaign_page, load, to_page
from invites.console.display import format_time
from invites.core.config import Settings
from invites.core.db import db


def _step(
    campaign_id: int,
    do: Callable[[Campaign], None],
    done: str,
    after: Callable[[int], object] | None = None,
) -> ResponseReturnValue:
    campaign = load(campaign_id)
    try:
        do(campaign)
    except lifecycle.CampaignError as exc:
        db.session.rollback()
        flash(f"Not done: {exc}.", "error")
        return campaign_page(campaign, 409)
    db.session.commit()
    if after is not None:
        after(campaign.id)
    flash(done, "ok")
    return to_page(campaign.id)


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


@bp.post("/<int:campaign_id>/send")
def send(campaign_id: int) -> ResponseReturnValue:
    """Send now to everyone the campaign may reach (content saved, approved if required)."""
    return _step(
        campaign_id,
        lambda c: lifecycle.send_now(db.session, c, actor(), _settings()),
        "Sending has started.",
        jobs.enqueue_plan,
    )


@bp.post("/<int:campaign_id>/schedule")
def schedule(campaign_id: int) -> ResponseReturnValue:
    """Schedule for a moment in the viewer's zone, or for a local time in each contact's."""
    campaign = load(campaign_id)
    try:
        when = schedule_form(request.form, current_staff().time_zone)
    except FormError as exc:
        flash(str(exc), "error")
        return campaign_page(campaign, 400, schedule=request.form)

    def do(c: Campaign) -> None:
        lifecycle.schedule(
            db.session,
            c,
            actor(),
            _settings(),
            at=when.at,
            local_date=when.local_date,
            local_time=when.local_time,
            default_zone=when.default_zone,
        )

    if when.at is not None:
        done = f"Scheduled for {format_time(when.at, current_staff().time_zone)}."
    else:
        done = (
            f"Scheduled for {when.local_time} on {when.local_date} in each contact's own time "
            f"(contacts without a zone: {when.default_zone})."
        )
    return _step(campaign_id, do, done)


@bp.post("/<int:campaign_id>/approve")
def approve(campaign_id: int) -> ResponseReturnValue:
    """Approve the current content (someone other than its last editor)."""
    return _step(
        campaign_id,
        lambda c: lifecycle.approve(db.session, c, actor()),
        "Approved this version of the content.",
    )


@bp.post("/<int:campaign_id>/confirm")
def confirm_late(campaign_id: int) -> ResponseReturnValue:
    """Send a held campaign after all, though its time has long passed."""
    return _step(
        campaign_id,
        lambda c: lifecycle.confirm_late(db.session, c, actor(), _settings()),
        "Confirmed: sending now, late.",
        jobs.enqueue_plan,
    )


@bp.post("/<int:campaign_id>/pause")
def pause(campaign_id: int) -> ResponseReturnValue:
    """Pause after the messages already on the wire; nobody is skipped."""
    reason = f"paused by {current_staff().email}"
    return _step(
        campaign_id,
        lambda c: lifecycle.pause(db.session, c, actor(), reason),
        "Paused. Messages already handed to the relay finish; nothing else leaves.",
    )


@bp.post("/<int:campaign_id>/resume")
def resume(campaign_id: int) -> ResponseReturnValue:
    """Resume where the ledger says the campaign stopped."""
    return _step(
        campaign_id,
        lambda c: lifecycle.resume(db.session, c, actor(), _settings()),
        "Resumed.",
        jobs.wake,
    )


@bp.post("/<int:campaign_id>/cancel")
def cancel(campaign_id: int) -> ResponseReturnValue:
    """Cancel for good: whoever hasn't been sent to yet won't be."""
    return _step(
        campaign_id,
        lambda c: lifecycle.cancel(db.session, c, actor()),
        "Cancelled.",
    )


@bp.post("/<int:campaign_id>/retry")
def retry(campaign_id: int) -> ResponseReturnValue:
    """Send once more to exactly those whose message failed or whose outcome is unknown."""
    queued: list[int] = []

    def do(c: Campaign) -> None:
        queued.append(lifecycle.retry_failed(db.session, c, actor()))

    response = _step(campaign_id, do, "Retrying failed and unknown messages.", jobs.wake)
    if queued and not queued[0]:
        flash("There was nothing to retry.", "ok")
    return response
