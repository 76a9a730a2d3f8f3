"""What changes a campaign's state from its page: each a POST, checked, audited, redirected.

The engine (invites.campaigns.lifecycle) locks the campaign, checks and records each step;
this only reads the form — with the version and status of the page it came from, so a step
on a campaign that changed since is refused — commits, and then wakes the workers: after the
commit, so a job never runs ahead of the state it needs.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, flash, request
from flask.typing import ResponseReturnValue

from invites.campaigns import jobs, lifecycle
from invites.campaigns.models import Campaign
from invites.console.access import current_staff
from invites.console.campaign_forms import FormError, schedule_form
from invites.console.campaigns import actor, bp, campaign_page, load, seen_on_form, to_page
from invites.console.display import format_time
from invites.core.config import Settings
from invites.core.db import db


def _step(
    campaign_id: int,
    do: Callable[[Campaign, lifecycle.Seen], object],
    done: str,
    after: Callable[[int], object] | None = None,
    kept: dict[str, object] | None = None,
) -> ResponseReturnValue:
    campaign = load(campaign_id)
    seen = seen_on_form(campaign)
    try:
        do(campaign, seen)
    except lifecycle.CampaignError as exc:
        db.session.rollback()
        flash(f"Not done: {exc}.", "error")
        return campaign_page(campaign, 409, kept=kept)
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
        lambda c, seen: lifecycle.send_now(db.session, c, actor(), _settings(), seen=seen),
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
        flash("Not scheduled: see the form below.", "error")
        return campaign_page(campaign, 400, kept={"schedule": request.form}, errors=exc.as_errors())

    def do(c: Campaign, seen: lifecycle.Seen) -> None:
        lifecycle.schedule(
            db.session,
            c,
            actor(),
            _settings(),
            at=when.at,
            local_date=when.local_date,
            local_time=when.local_time,
            default_zone=when.default_zone,
            seen=seen,
        )

    if when.at is not None:
        done = f"Scheduled for {format_time(when.at, current_staff().time_zone)}."
    else:
        done = (
            f"Scheduled for {when.local_time} on {when.local_date} in each contact's own time "
            f"(contacts without a zone: {when.default_zone})."
        )
    return _step(campaign_id, do, done, kept={"schedule": request.form})


@bp.post("/<int:campaign_id>/approve")
def approve(campaign_id: int) -> ResponseReturnValue:
    """Approve the current content (someone other than its last editor)."""
    return _step(
        campaign_id,
        lambda c, seen: lifecycle.approve(db.session, c, actor(), seen=seen),
        "Approved this version of the content.",
    )


@bp.post("/<int:campaign_id>/confirm")
def confirm_late(campaign_id: int) -> ResponseReturnValue:
    """Send a held campaign, or its held zone groups, after all, though their time has passed."""
    released: list[int] = []

    def do(c: Campaign, seen: lifecycle.Seen) -> None:
        released.append(lifecycle.confirm_late(db.session, c, actor(), _settings(), seen=seen))

    def after(campaign_id: int) -> None:
        if released and released[0]:
            jobs.wake(campaign_id)  # held groups of a campaign that sends: due now
        else:
            jobs.enqueue_plan(campaign_id)

    return _step(campaign_id, do, "Confirmed: sending now, late.", after)


@bp.post("/<int:campaign_id>/pause")
def pause(campaign_id: int) -> ResponseReturnValue:
    """Pause after the messages already on the wire; nobody is skipped."""
    reason = f"paused by {current_staff().email}"
    return _step(
        campaign_id,
        lambda c, seen: lifecycle.pause(db.session, c, actor(), reason, seen=seen),
        "Paused. Messages already handed to the relay finish; nothing else leaves.",
    )


@bp.post("/<int:campaign_id>/resume")
def resume(campaign_id: int) -> ResponseReturnValue:
    """Resume where the ledger says the campaign stopped."""
    return _step(
        campaign_id,
        lambda c, seen: lifecycle.resume(db.session, c, actor(), _settings(), seen=seen),
        "Resumed.",
        jobs.wake,
    )


@bp.post("/<int:campaign_id>/cancel")
def cancel(campaign_id: int) -> ResponseReturnValue:
    """Cancel for good: whoever hasn't been sent to yet won't be."""
    return _step(
        campaign_id,
        lambda c, seen: lifecycle.cancel(db.session, c, actor(), seen=seen),
        "Cancelled.",
    )


@bp.post("/<int:campaign_id>/retry")
def retry(campaign_id: int) -> ResponseReturnValue:
    """Send once more to exactly those whose message failed or whose outcome is unknown."""
    queued: list[int] = []

    def do(c: Campaign, seen: lifecycle.Seen) -> None:
        queued.append(lifecycle.retry_failed(db.session, c, actor(), seen=seen))

    response = _step(campaign_id, do, "Retrying failed and unknown messages.", jobs.wake)
    if queued and not queued[0]:
        flash("There was nothing to retry.", "ok")
    return response
