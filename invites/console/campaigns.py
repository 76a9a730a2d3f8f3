"""Campaign pages: the list, a new campaign, and a campaign's own page with live progress.

Editing lives in campaigns_edit, preview and test sends in campaigns_preview, and what
changes a campaign's state (send, pause, …) in campaigns_actions; all hang off this blueprint.
Nothing on these pages is about one person: counts only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from invites.campaigns import content, late, lifecycle, listing, pace, planner, progress, segments
from invites.campaigns.content import LOCALES
from invites.campaigns.lifecycle import CAMPAIGN_CATEGORIES
from invites.campaigns.models import Campaign, CampaignContent, CampaignStatus
from invites.console.access import client_ip, current_staff
from invites.console.campaign_forms import settings_form
from invites.console.search_forms import SearchForm, page_number
from invites.console.segment_forms import segment_form
from invites.console.segment_view import segment_view
from invites.core import audit
from invites.core.db import db
from invites.staff import users

bp = Blueprint("campaigns", __name__)

#: Statuses whose page polls for progress.
LIVE = (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED)


def actor() -> lifecycle.Actor:
    """The signed-in staff member as the campaign engine records them."""
    staff = current_staff()
    return lifecycle.Actor(staff.id, staff.label, client_ip())


def staff_editable(campaign: Campaign) -> bool:
    """Whether staff may still change its content and settings (never a policy notice's)."""
    return campaign.status in lifecycle.EDITABLE and campaign.policy_version_id is None


def load(campaign_id: int) -> Campaign:
    """The campaign with this id, or a 404 page."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        abort(404, description="There is no campaign with this id.")
    return campaign


def seen_on_form(campaign: Campaign) -> lifecycle.Seen:
    """The version and status of the page the posted form came from (every campaign form
    carries them), or a 400 page asking to reload."""
    seen = lifecycle.Seen.from_form(request.form)
    if seen is None:
        abort(
            400,
            description="This form did not say which version of the campaign it was made "
            "from, so it was not used. Reload the campaign's page and try again.",
        )
    return seen


def to_page(campaign_id: int, anchor: str = "") -> ResponseReturnValue:
    """Back to the campaign's page after a form (303: a reload doesn't post again)."""
    return redirect(url_for("console.campaigns.show", campaign_id=campaign_id) + anchor, code=303)


def contents(campaign: Campaign) -> dict[str, CampaignContent]:
    """The campaign's saved locales."""
    rows = db.session.scalars(
        select(CampaignContent).where(CampaignContent.campaign_id == campaign.id)
    )
    return {row.locale: row for row in rows}


def pace_of(app: Any, campaign: Campaign, now: progress.Progress) -> pace.Pace:
    """How fast and how long still, from the progress counts (see invites.campaigns.pace)."""
    return pace.pace(app, campaign, done=now.done, left=now.total - now.done, limit=now.limit)


def live_json(app: Any, campaign: Campaign, now: progress.Progress) -> dict[str, Any]:
    """What a page polls: the counts, with the rate, time left and state from `pace`."""
    return now.as_json() | pace_of(app, campaign, now).as_json()


def reach_now(campaign: Campaign) -> int:
    """How many contacts the campaign would reach if it were sent now."""
    return planner.count_audience(db.session.connection(), campaign, current_app.config["SETTINGS"])


def reach_shown(campaign: Campaign, reach: int | None) -> str | None:
    """The reach as the editing pages show it: small counts of a segment are blurred."""
    return None if reach is None else segments.shown(reach, bool(campaign.segment))


@bp.get("")
def index() -> tuple[str, int]:
    """List campaigns newest first, with status, schedule, counts and progress bars; search by
    name, state, category and dates, a page at a time; archived ones on their own list."""
    form = SearchForm.read(request.args, ("name", "status", "category", "since", "until"))
    status = form.choice("status", tuple(CampaignStatus), "state")
    category = form.choice("category", CAMPAIGN_CATEGORIES, "category")
    since, before = form.day_range("since", "until")
    archived = request.args.get("archived") == "1"
    if form.problems:
        found = listing.Page([], 1, 1, 0)
    else:
        where = listing.Filter(
            name=form.typed["name"],
            status=status,
            category=category,
            since=since,
            before=before,
            archived=archived,
        )
        found = listing.search(db.session, where, page_number(request.args))
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    rows = progress.progress_of(db.session, app, found.campaigns)
    query = form.query() | ({"archived": "1"} if archived else {})
    return render_template(
        "console/campaigns/index.html",
        listing=rows,
        found=found,
        live=any(c.status in LIVE for c in found.campaigns),
        typed=form.typed,
        problems=form.problems,
        filtered=form.filtered,
        archived=archived,
        query=query,
        statuses=tuple(CampaignStatus),
        categories=CAMPAIGN_CATEGORIES,
    ), (400 if form.problems else 200)


@bp.get("/progress")
def index_progress() -> ResponseReturnValue:
    """Progress of the campaigns in `?ids=1,2` (default: the live ones), for the list's bars."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    wanted = [int(i) for i in request.args.get("ids", "").split(",")[:200] if i.isdigit()]
    # Asked by id, so a campaign that has just finished still gets its last, full bar.
    which = Campaign.id.in_(wanted) if wanted else Campaign.status.in_(LIVE)
    rows = db.session.scalars(select(Campaign).where(which)).all()
    return jsonify(
        {
            str(c.id): live_json(app, c, now)
            for c, now in progress.progress_of(db.session, app, rows)
        }
    )


@bp.get("/new")
def new() -> str:
    """The form for a new campaign's name, category and audience."""
    return render_template(
        "console/campaigns/new.html",
        form={},
        errors={},
        seg=segment_view(None, None),
        **form_choices(),
    )


def form_choices() -> dict[str, Any]:
    """What the settings form offers."""
    settings = current_app.config["SETTINGS"]
    return {
        "categories": lifecycle.MARKETING_CATEGORIES,
        "locales": LOCALES,
        "default_sender": settings.mail_from_marketing,
    }


@bp.post("/new")
def create() -> ResponseReturnValue:
    """Create a draft campaign, then go on to write its content."""
    parsed = settings_form(request.form)
    segment, segment_errors = segment_form(request.form)
    parsed.errors |= segment_errors
    seg = segment_view(None, request.form, parsed.errors)
    if parsed.errors:
        flash("Not created: see the fields marked below.", "error")
        return render_template(
            "console/campaigns/new.html",
            form=request.form,
            errors=parsed.errors,
            seg=seg,
            **form_choices(),
        ), 400
    try:
        campaign = lifecycle.create(db.session, actor(), segment=segment.to_json(), **parsed.values)
    except lifecycle.CampaignError as exc:
        db.session.rollback()
        flash(f"Not created: {exc}.", "error")
        return render_template(
            "console/campaigns/new.html", form=request.form, errors={}, seg=seg, **form_choices()
        ), 400
    db.session.commit()
    flash(f"Created “{campaign.name}”. Now write its content.", "ok")
    return redirect(
        url_for("console.campaigns.edit_content", campaign_id=campaign.id, locale="en"), code=303
    )


@bp.get("/<int:campaign_id>")
def show(campaign_id: int) -> tuple[str, int]:
    """A campaign: its state and live progress, what can be done now, results and history."""
    return campaign_page(load(campaign_id))


def campaign_page(
    campaign: Campaign,
    status: int = 200,
    *,
    kept: Mapping[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> tuple[str, int]:
    """The campaign's page; `kept` holds what a refused form had typed, by form (it is shown
    again), `errors` why, by field."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = app.config["SETTINGS"]
    now = progress.progress(db.session, app, campaign)
    staff = current_staff()
    names = users.addresses(db.session)
    approval_required = settings.campaign_approval == "required"
    reach = reach_now(campaign) if campaign.status in lifecycle.EDITABLE else None
    return render_template(
        "console/campaigns/show.html",
        campaign=campaign,
        progress=now,
        pace=pace_of(app, campaign, now),
        started=campaign.status not in pace.NOT_STARTED,
        contents=contents(campaign),
        reach=reach,
        reach_shown=reach_shown(campaign, reach),
        segment_summary=segments.load(campaign.segment).describe(),
        seg=segment_view(campaign, (kept or {}).get("settings"), errors),
        reasons=progress.failure_reasons(db.session, campaign.id),
        attributed=progress.attributed(db.session, campaign.id),
        per_hour=progress.sends_per_hour(db.session, campaign.id),
        events=audit.events_for(db.session, "campaign", campaign.id),
        editable=staff_editable(campaign),
        notice=campaign.policy_version_id is not None,
        live=campaign.status in LIVE,
        approval_required=approval_required,
        approved=campaign.approved_version == campaign.version,
        may_approve=campaign.edited_by != staff.id,
        names=names,
        viewer_zone=staff.time_zone or "UTC",
        kept=kept or {},
        errors=errors or {},
        held=late.held_groups(db.session.connection(), campaign.id),
        **form_choices() | {"default_sender": content.default_sender(settings, campaign)},
    ), status


@bp.get("/<int:campaign_id>/progress")
def show_progress(campaign_id: int) -> ResponseReturnValue:
    """The campaign's live progress as JSON (the page polls it every second)."""
    campaign = load(campaign_id)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return jsonify(live_json(app, campaign, progress.progress(db.session, app, campaign)))
