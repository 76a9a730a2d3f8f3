"""`invites campaigns ...`: what the console does to campaigns, for operators at a shell."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from invites.campaigns import jobs, lifecycle
from invites.campaigns.models import Campaign, CampaignStatus
from invites.campaigns.progress import progress
from invites.core import audit
from invites.core.db import db
from invites.staff import users


def _actor() -> lifecycle.Actor:
    return lifecycle.Actor(None, audit.operator().label)


def _campaign(campaign_id: int) -> Campaign:
    found = db.session.get(Campaign, campaign_id)
    if found is None:
        raise click.ClickException(f"no campaign {campaign_id}")
    return found


def _step(campaign_id: int, step: str) -> Campaign:
    campaign = _campaign(campaign_id)
    settings = current_app.config["SETTINGS"]
    try:
        if step == "send":
            lifecycle.send_now(db.session, campaign, _actor(), settings)
        elif step == "pause":
            # "paused by <who>", as the console writes it: a person paused it, not the campaign.
            who = _actor()
            lifecycle.pause(db.session, campaign, who, f"paused by {who.label}")
        elif step == "resume":
            lifecycle.resume(db.session, campaign, _actor(), settings)
        elif step == "cancel":
            lifecycle.cancel(db.session, campaign, _actor())
        db.session.commit()
    except lifecycle.CampaignError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    if step == "send":
        jobs.enqueue_plan(campaign.id)
    elif step == "resume":
        jobs.wake(campaign.id)
    return campaign


@click.group("campaigns")
def campaigns() -> None:
    """List, send, watch, pause, resume and cancel campaigns."""


@campaigns.command("list")
@with_appcontext
def list_campaigns() -> None:
    """List campaigns, newest first, with their status and progress."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    rows = db.session.scalars(select(Campaign).order_by(Campaign.id.desc())).all()
    if not rows:
        click.echo("no campaigns yet")
    for campaign in rows:
        p = progress(db.session, app, campaign)
        click.echo(
            f"{campaign.id}\t{campaign.status}\t{p.done}/{p.total} ({p.percent:.0f}%)\t"
            f"{campaign.category}\t{campaign.name}"
        )


@campaigns.command("send")
@click.argument("campaign_id", type=int)
@with_appcontext
def send(campaign_id: int) -> None:
    """Send campaign ID now (checks as the console does: content, approval)."""
    campaign = _step(campaign_id, "send")
    click.echo(f"campaign {campaign.id} is sending to {campaign.audience_at_start} contact(s)")


@campaigns.command("pause")
@click.argument("campaign_id", type=int)
@with_appcontext
def pause(campaign_id: int) -> None:
    """Pause campaign ID after the messages on the wire; nobody is skipped."""
    _step(campaign_id, "pause")
    click.echo(f"campaign {campaign_id} paused")


@campaigns.command("resume")
@click.argument("campaign_id", type=int)
@with_appcontext
def resume(campaign_id: int) -> None:
    """Resume campaign ID where its ledger says it stopped."""
    _step(campaign_id, "resume")
    click.echo(f"campaign {campaign_id} resumed")


@campaigns.command("cancel")
@click.argument("campaign_id", type=int)
@with_appcontext
def cancel(campaign_id: int) -> None:
    """Cancel campaign ID for good."""
    _step(campaign_id, "cancel")
    click.echo(f"campaign {campaign_id} cancelled")


@campaigns.command("status")
@click.argument("campaign_id", type=int)
@click.option("--once", is_flag=True, help="Print the status once instead of following it.")
@with_appcontext
def status(campaign_id: int, once: bool) -> None:
    """Show campaign ID's progress, with a bar, until it is done, paused or cancelled."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    final = (CampaignStatus.DONE, CampaignStatus.CANCELLED, CampaignStatus.PAUSED)
    campaign = _campaign(campaign_id)
    p = progress(db.session, app, campaign)
    with click.progressbar(length=max(p.total, 1), label=campaign.name, show_pos=True) as bar:
        shown = 0
        while True:
            bar.length = max(p.total, 1)
            bar.update(p.done - shown)
            shown = p.done
            if once or campaign.status in final or campaign.status == CampaignStatus.DRAFT:
                break
            time.sleep(1)
            db.session.rollback()
            campaign = _campaign(campaign_id)
            p = progress(db.session, app, campaign)
    counts = ", ".join(f"{k} {v}" for k, v in p.counts.items() if v)
    click.echo(f"{campaign.status}: {counts or 'nothing sent'}; {p.rate:.1f}/s")
    if p.paused_reason:
        # Who paused it, by the address their account has now (the row names the account).
        click.echo(f"paused: {users.named(p.paused_reason, users.addresses(db.session))}")
