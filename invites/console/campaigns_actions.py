"""What changes a campaign's state from its page: each a POST, checked, audited, redirected.

The engine (invites.campaigns.lifecycle) locks the campaign, checks and records each step;
this only reads the form — with the version and status of the page it came from, so a step
on a campaign that changed since is refused — commits, and then wakes the workers: after the
commit, so a job never runs ahead of the state it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from invites.campaigns import jobs, lifecycle, segments
from invites.campaigns.models import Campaign, CampaignStatus
from invites.campaigns.progress import progress
from invites.console import campaigns_confirm as confirm
from invites.console.access import current_staff
from invites.console.campaign_forms import FormError, schedule_form
from invites.console.campaigns import actor, bp, campaign_page, load, seen_on_form, to_page
from invites.console.display import format_time
from invites.core.config import Settings
from invites.core.db import db


def _step(
    campaign_id: int,
    do: Callable[[Campaign, lifecycle.Seen], Any],
    done: str | Callable[[Campaign], str],
    after: Callable[[int], object] | None = None,
    kept: dict[str, object] | None = None,
    to: Callable[[Any], ResponseReturnValue] | None = None,
) -> ResponseReturnValue:
    """Take a step from the campaign's page: commit it, wake the workers (`after`), say it
    (`done`, or what it says of the campaign as it was) and go on to the campaign's page, or
    to where `to` sends the step's result; a refused step shows the page again, with why."""
    campaign = load(campaign_id)
    seen = seen_on_form(campaign)
    said = done(campaign) if callable(done) else done
    try:
        result = do(campaign, seen)
    except lifecycle.CampaignError as exc:
        db.session.rollback()
        flash(f"Not done: {exc}.", "error")
        return campaign_page(campaign, 409, kept=kept)
    db.session.commit()
    if after is not None:
        after(campaign_id)
    flash(said, "ok")
    return to(result) if to is not None else to_page(campaign_id)


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


def _ask_first(campaign: Campaign, statuses: tuple[str, ...], ready: bool = False) -> bool:
    """Whether to show the confirmation: only for a step that can be taken now. One that
    can't (wrong state, a page that's out of date, content not ready) goes straight to the
    step, which refuses it and says why, without a confirmation that would lead nowhere."""
    seen = lifecycle.Seen.from_form(request.form)
    if campaign.status not in statuses or seen != lifecycle.Seen.of(campaign):
        return False
    if ready:
        try:
            lifecycle.check_ready(db.session, campaign, _settings())
        except lifecycle.CampaignError:
            return False
    return True


def _people(count: int, campaign: Campaign) -> str:
    shown = segments.shown(count, bool(campaign.segment))
    if not shown.isdigit():
        return f"{shown} people"  # a small segmented audience, blurred as everywhere
    return f"{count:,} {'person' if count == 1 else 'people'}".replace(",", " ")


@bp.post("/<int:campaign_id>/send")
def send(campaign_id: int) -> ResponseReturnValue:
    """Send now to everyone the campaign may reach (content saved, approved if required)."""
    campaign = load(campaign_id)
    if _ask_first(campaign, (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED), ready=True):
        count = confirm.count_for(campaign, "send")
        asking = confirm.confirmed(
            confirm.Ask(
                "console.campaigns.send",
                f"Send “{campaign.name}” now?",
                f"Send to {_people(count, campaign)} now",
                count,
                "people it will email",
                "now",
                "A message that has left can't be called back; you can pause or cancel the rest.",
            ),
            campaign,
        )
        if asking is not None:
            return asking
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
        moment = format_time(when.at, current_staff().time_zone)
    else:
        moment = (
            f"{when.local_time} on {when.local_date} in each contact's own time "
            f"(contacts without a zone: {when.default_zone})"
        )
    if _ask_first(campaign, (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED), ready=True):
        count = confirm.count_for(campaign, "schedule")
        asking = confirm.confirmed(
            confirm.Ask(
                "console.campaigns.schedule",
                f"Schedule “{campaign.name}”?",
                f"Schedule for {_people(count, campaign)}",
                count,
                "people it would email now",
                moment,
                "It starts by itself at that time. Until then you can unschedule it, edit it "
                "or cancel it; who receives it is decided when it sends.",
            ),
            campaign,
        )
        if asking is not None:
            return asking
    return _step(campaign_id, do, f"Scheduled for {moment}.", kept={"schedule": request.form})


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
    # The account, not its address: the page shows the address it has now ("staff_named").
    reason = f"paused by {current_staff().label}"
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
    campaign = load(campaign_id)
    live = (CampaignStatus.SENDING, CampaignStatus.PAUSED)
    if _ask_first(
        campaign, (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.HELD, *live)
    ):
        if campaign.status in live:
            now = progress(db.session, current_app._get_current_object(), campaign)  # type: ignore[attr-defined]
            count = confirm.count_for(campaign, "cancel", now.total - now.done)
            when = "now; messages already handed to the relay still arrive"
        else:
            count = confirm.count_for(campaign, "cancel")
            when = "now"
        asking = confirm.confirmed(
            confirm.Ask(
                "console.campaigns.cancel",
                f"Cancel “{campaign.name}” for good?",
                "Cancel the campaign",
                count,
                "people it would still email",
                when,
                "A cancelled campaign can't be resumed or sent again (you can duplicate it).",
                danger=True,
            ),
            campaign,
        )
        if asking is not None:
            return asking
    return _step(
        campaign_id,
        lambda c, seen: lifecycle.cancel(db.session, c, actor(), seen=seen),
        "Cancelled.",
    )


@bp.post("/<int:campaign_id>/unschedule")
def unschedule(campaign_id: int) -> ResponseReturnValue:
    """Take a scheduled campaign back to draft: it won't start until scheduled or sent again."""
    return _step(
        campaign_id,
        lambda c, seen: lifecycle.unschedule(db.session, c, actor(), seen=seen),
        "Unscheduled: it is a draft again and won't start by itself.",
    )


@bp.post("/<int:campaign_id>/duplicate")
def duplicate(campaign_id: int) -> ResponseReturnValue:
    """Make a new draft with this campaign's settings and content, and open it."""
    return _step(
        campaign_id,
        lambda c, seen: lifecycle.duplicate(db.session, c, actor(), seen=seen),
        lambda c: f"This is a new draft, a copy of “{c.name}”: nothing is approved or scheduled.",
        to=lambda copy: to_page(copy.id),
    )


@bp.post("/<int:campaign_id>/delete")
def delete(campaign_id: int) -> ResponseReturnValue:
    """Delete a draft that never started, after a confirmation; the audit log keeps its history."""
    campaign = load(campaign_id)
    if _ask_first(campaign, (CampaignStatus.DRAFT,)):
        asking = confirm.confirmed(
            confirm.Ask(
                "console.campaigns.delete",
                f"Delete the draft “{campaign.name}”?",
                "Delete the draft",
                None,
                "",
                "now",
                "Its settings and content are deleted; the audit log keeps what was done to it.",
                danger=True,
            ),
            campaign,
        )
        if asking is not None:
            return asking
    return _step(
        campaign_id,
        lambda c, seen: lifecycle.delete_draft(db.session, c, actor(), seen=seen),
        lambda c: f"Deleted the draft “{c.name}”.",
        to=lambda _gone: redirect(url_for("console.campaigns.index"), code=303),
    )


@bp.post("/<int:campaign_id>/archive")
def archive(campaign_id: int) -> ResponseReturnValue:
    """Move a done or cancelled campaign out of the default list (it stays readable)."""
    return _step(
        campaign_id,
        lambda c, seen: lifecycle.archive(db.session, c, actor(), seen=seen),
        "Archived: it is listed under “Archived” now.",
    )


@bp.post("/<int:campaign_id>/unarchive")
def unarchive(campaign_id: int) -> ResponseReturnValue:
    """Bring an archived campaign back to the default list."""
    return _step(
        campaign_id,
        lambda c, seen: lifecycle.archive(db.session, c, actor(), archived=False, seen=seen),
        "Back in the list of campaigns.",
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
