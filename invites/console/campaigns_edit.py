"""The campaign editor: settings, and each locale's content, checked and compiled on save.

A template that doesn't compile, uses an unknown variable or a forbidden attribute, or
renders too big or too slowly is refused here, with its part, line and message — never
later, one recipient at a time, in the send path.
"""

from __future__ import annotations

from typing import Literal

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from invites.campaigns import content, lifecycle
from invites.campaigns.content import LOCALES
from invites.campaigns.models import Campaign, CampaignStatus
from invites.console.campaign_forms import content_form, settings_form
from invites.console.campaigns import (
    actor,
    bp,
    campaign_page,
    contents,
    form_choices,
    load,
    reach_now,
    reach_shown,
    seen_on_form,
    staff_editable,
    to_page,
)
from invites.console.forms import cut_form, handles_cut_form
from invites.console.segment_forms import segment_form
from invites.core.db import db
from mailer.authoring import (
    CAMPAIGN_VARIABLES,
    FILTERS,
    RECIPIENT_VARIABLES,
    Draft,
    DraftRejected,
    Problem,
)
from mailer.compiled import Limits

#: What a new locale's form starts with: a working example of every variable.
STARTER = Draft(
    subject="{{ first_name }}, see what's new in SpotCam",
    preheader="",
    body=(
        "# Hello{% if first_name %}, {{ first_name }}{% endif %}\n\n"
        "Write your message here. Markdown works: **bold**, [links](https://spotcam.example).\n\n"
        "[Choose what we send you]({{ preferences_url }})\n"
    ),
)


def _editor(
    campaign: Campaign, locale: str, draft: Draft, problems: list[Problem], status: int = 200
) -> tuple[str, int]:
    return render_template(
        "console/campaigns/edit.html",
        campaign=campaign,
        locale=locale,
        draft=draft,
        saved=contents(campaign),
        problems=problems,
        at=by_field(problems),
        recipient_variables=RECIPIENT_VARIABLES,
        campaign_variables=CAMPAIGN_VARIABLES,
        filters=sorted(FILTERS),
        reach=reach_shown(campaign, reach_now(campaign)),
        editable=staff_editable(campaign),
        **form_choices(),
    ), status


def by_field(problems: list[Problem]) -> dict[str, str]:
    """The problems' messages by the field each is about, to show at that field."""
    found: dict[str, list[str]] = {}
    for problem in problems:
        where = f"line {problem.line}: " if problem.line else ""
        found.setdefault(problem.part, []).append(f"{where}{problem.message}.")
    return {part: " ".join(messages) for part, messages in found.items()}


def _locale(locale: str) -> str:
    if locale not in LOCALES:
        abort(404, description=f"Campaigns are written in {', '.join(LOCALES)}.")
    return locale


@bp.get("/<int:campaign_id>/content/<locale>")
def edit_content(campaign_id: int, locale: str) -> tuple[str, int]:
    """The editor for one locale's subject, preheader, body and text part."""
    campaign = load(campaign_id)
    row = contents(campaign).get(_locale(locale))
    draft, problems = STARTER, []
    if row is not None:
        fmt: Literal["markdown", "html"] = "html" if row.body_format == "html" else "markdown"
        draft = Draft(row.subject, row.preheader, row.body, fmt, row.text)
        if not row.compiled:  # kept with its problems: show them again, at their fields
            problems = _check(campaign, locale, draft)[1]
    return _editor(campaign, locale, draft, problems)


def _check(campaign: Campaign, locale: str, draft: Draft) -> tuple[str | None, list[Problem]]:
    """The draft's compiled form to store, or None and every problem the checks found."""
    problems = [
        Problem(part, None, "is empty")
        for part in ("subject", "body")
        if not getattr(draft, part).strip()
    ]
    if problems:
        return None, problems
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        compiled = content.compile_locale(app, campaign, locale, draft, sample={})
    except DraftRejected as exc:
        return None, list(exc.problems)
    return content.stored(compiled), []


def _may_keep_unchecked(campaign: Campaign, draft: Draft) -> bool:
    """Whether a draft that failed its checks is still saved, to fix later.

    Only a draft campaign keeps one (a scheduled or held campaign must stay ready to go), and
    only parts within the length a source may have: the work isn't lost, and it can't be sent.
    """
    longest = Limits().source_chars
    parts = (draft.subject, draft.preheader, draft.body, draft.text or "")
    return campaign.status == CampaignStatus.DRAFT and all(len(p) <= longest for p in parts)


@bp.post("/<int:campaign_id>/content/<locale>")
@handles_cut_form
def save_content(campaign_id: int, locale: str) -> ResponseReturnValue:
    """Check, compile and save one locale's content; a draft that fails is kept to fix."""
    campaign = load(campaign_id)
    _locale(locale)
    seen = seen_on_form(campaign)
    draft, problems = content_form(request.form)
    cut = cut_form()
    if cut is not None:
        problems = [Problem(cut.field or "body", None, cut.message())]
        return _editor(campaign, locale, draft, problems, 413)
    if campaign.status not in lifecycle.EDITABLE:
        flash(f"A {campaign.status} campaign can't be edited.", "error")
        return _editor(campaign, locale, draft, [], 409)
    if problems:
        return _editor(campaign, locale, draft, problems, 400)
    compiled, problems = _check(campaign, locale, draft)
    if problems and not _may_keep_unchecked(campaign, draft):
        return _editor(campaign, locale, draft, problems, 400)
    try:
        lifecycle.save_content(db.session, campaign, actor(), locale, draft, compiled, seen=seen)
    except lifecycle.CampaignError as exc:
        db.session.rollback()
        flash(
            f"Not saved: {exc}. What you wrote is below; saving it now replaces what is there.",
            "error",
        )
        return _editor(campaign, locale, draft, [], 409)
    db.session.commit()
    if problems:
        flash(
            f"Saved the {locale} draft (version {campaign.version}) with {len(problems)} "
            "problem(s) to fix, marked below. Until they are fixed this language can't be "
            "previewed, tested, approved or sent.",
            "error",
        )
        editor = url_for("console.campaigns.edit_content", campaign_id=campaign.id, locale=locale)
        return redirect(editor, 303)
    flash(f"Saved the {locale} content (version {campaign.version}).", "ok")
    return to_page(campaign.id)


@bp.post("/<int:campaign_id>/settings")
def save_settings(campaign_id: int) -> ResponseReturnValue:
    """Change the campaign's name, category, partner, audience language, sender or rate."""
    campaign = load(campaign_id)
    seen = seen_on_form(campaign)
    parsed = settings_form(request.form)
    segment, segment_errors = segment_form(request.form)
    parsed.errors |= segment_errors
    parsed.values["segment"] = segment.to_json()
    if parsed.errors:
        flash("Settings not saved: see the fields marked below.", "error")
        return campaign_page(campaign, 400, kept={"settings": request.form}, errors=parsed.errors)
    try:
        lifecycle.update_settings(db.session, campaign, actor(), seen=seen, **parsed.values)
    except lifecycle.CampaignError as exc:
        db.session.rollback()
        flash(f"Settings not saved: {exc}.", "error")
        return campaign_page(campaign, 409, kept={"settings": request.form})
    db.session.commit()
    flash("Saved the settings.", "ok")
    return to_page(campaign.id)
