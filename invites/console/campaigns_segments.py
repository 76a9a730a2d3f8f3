"""Audience conditions in the console: the live count, and saved segments to start from.

The count answers with a number only (small ones blurred): never a contact or an address.
"""

from __future__ import annotations

from flask import flash, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from invites.campaigns import lifecycle, segments
from invites.campaigns.models import SavedSegment
from invites.console.campaigns import actor, bp, campaign_page, load
from invites.console.segment_forms import segment_form
from invites.console.segment_view import count_shown
from invites.core import audit
from invites.core.db import db, utcnow

NAME_CHARS = 120


@bp.get("/audience-count")
def audience_count() -> ResponseReturnValue:
    """How many contacts the settings form's category, language and conditions match now
    (JSON: {"count": "123"} or "fewer than 5", or the problems with the conditions)."""
    segment, problems = segment_form(request.args)
    if problems:
        return jsonify({"count": None, "problems": problems}), 422
    category = request.args.get("category", "")
    if category not in lifecycle.MARKETING_CATEGORIES:
        return jsonify({"count": None, "problems": {"category": "Choose a category."}}), 422
    locale = request.args.get("locale") or None
    return jsonify({"count": count_shown(category, locale, segment)})


@bp.post("/<int:campaign_id>/segment/use")
def use_segment(campaign_id: int) -> ResponseReturnValue:
    """Fill the settings form with a saved segment's conditions (saved with the settings)."""
    campaign = load(campaign_id)
    form = request.form.to_dict()
    chosen = request.form.get("saved_segment", "")
    saved = db.session.get(SavedSegment, int(chosen)) if chosen.isdigit() else None
    if saved is None:
        flash("Choose a saved segment to use.", "error")
        return campaign_page(campaign, 400, kept={"settings": form})
    segment = segments.load(saved.definition)
    form = {k: v for k, v in form.items() if not k.startswith("cond-")}
    form["match"] = segment.match
    for i, c in enumerate(segment.conditions):
        form |= {
            f"cond-{i}-attribute": c.attribute,
            f"cond-{i}-op": str(c.op),
            f"cond-{i}-value": ", ".join(c.values),
        }
    flash(
        f"The conditions of “{saved.name}” are filled in below: save the settings to use them.",
        "ok",
    )
    return campaign_page(campaign, 200, kept={"settings": form})


@bp.post("/<int:campaign_id>/segment/save")
def save_segment(campaign_id: int) -> ResponseReturnValue:
    """Save the form's conditions under a name (the same name replaces that segment)."""
    campaign = load(campaign_id)
    form = request.form.to_dict()
    name = " ".join(form.get("segment_name", "").replace("\x00", "").split())
    segment, problems = segment_form(request.form)
    if not name or len(name) > NAME_CHARS:
        problems["segment_name"] = f"Give the segment a name of 1 to {NAME_CHARS} characters."
    elif not segment.conditions and not problems:
        problems["segment"] = "Add at least one condition to save as a segment."
    if problems:
        flash("Segment not saved: see the conditions marked below.", "error")
        return campaign_page(campaign, 400, kept={"settings": form}, errors=problems)
    who = actor()
    now = utcnow()
    saved = db.session.scalar(select(SavedSegment).where(SavedSegment.name == name))
    if saved is None:
        saved = SavedSegment(name=name, created_by=who.id, created_at=now, definition="")
        db.session.add(saved)
    saved.definition, saved.updated_at = segment.to_json() or "", now
    db.session.flush()
    audit.record(
        db.session,
        actor=who,
        action="segment.save",
        target_type="segment",
        target_id=saved.id,
        detail={"name": name, "conditions": segment.describe()},
        ip=who.ip,
    )
    db.session.commit()
    flash(f"Saved the segment “{name}”. The campaign's own settings are not saved yet.", "ok")
    return campaign_page(campaign, 200, kept={"settings": form})


@bp.post("/<int:campaign_id>/segment/delete")
def delete_segment(campaign_id: int) -> ResponseReturnValue:
    """Delete a saved segment (campaigns that used it keep their own copy of its conditions)."""
    campaign = load(campaign_id)
    form = request.form.to_dict()
    chosen = request.form.get("saved_segment", "")
    saved = db.session.get(SavedSegment, int(chosen)) if chosen.isdigit() else None
    if saved is None:
        flash("Choose a saved segment to delete.", "error")
        return campaign_page(campaign, 400, kept={"settings": form})
    who = actor()
    audit.record(
        db.session,
        actor=who,
        action="segment.delete",
        target_type="segment",
        target_id=saved.id,
        detail={"name": saved.name},
        ip=who.ip,
    )
    name = saved.name
    db.session.delete(saved)
    db.session.commit()
    flash(f"Deleted the saved segment “{name}”. Campaigns keep their own conditions.", "ok")
    return campaign_page(campaign, 200, kept={"settings": form})
