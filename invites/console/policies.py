"""Admin pages for the privacy policy's versions: write drafts, publish them, record the text
of the version that predates the archive. Every step is checked and audited by
`invites.privacy.publishing`; these views parse forms and show what came back.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from invites.campaigns import notices, progress
from invites.console.access import client_ip, current_staff, requires_role
from invites.console.campaigns import actor as campaign_actor
from invites.core.db import db, utcnow
from invites.core.locale import LOCALES
from invites.privacy import publishing, versions
from invites.privacy.markdown import render
from invites.privacy.models import PolicyVersion
from invites.privacy.publishing import Draft, PolicyError
from invites.staff import Role

bp = Blueprint("policies", __name__)


def _form(source: MultiDict[str, str]) -> dict[str, Any]:
    """What the form holds, as typed (shown again when it is refused)."""
    form: dict[str, Any] = {
        "label": source.get("label", "").strip(),
        "effective_on": source.get("effective_on", "").strip(),
        "material": source.get("material") == "on",
        "changes_partner_sharing": source.get("changes_partner_sharing") == "on",
    }
    for locale in LOCALES:
        form[f"body_{locale}"] = source.get(f"body_{locale}", "")
        form[f"summary_{locale}"] = source.get(f"summary_{locale}", "")
    return form


def _draft(form: dict[str, Any]) -> tuple[Draft, dict[str, str]]:
    problems: dict[str, str] = {}
    try:
        effective_on: date | None = date.fromisoformat(form["effective_on"])
    except ValueError:
        effective_on = None
        if form["effective_on"]:
            problems["effective_on"] = "Write the day as YYYY-MM-DD."
    draft = Draft(
        label=form["label"],
        effective_on=effective_on,
        material=form["material"],
        changes_partner_sharing=form["changes_partner_sharing"],
        bodies={locale: form[f"body_{locale}"] for locale in LOCALES},
        summaries={locale: form[f"summary_{locale}"] for locale in LOCALES},
    )
    return draft, problems


def _stored_form(version: PolicyVersion, blank: bool = False) -> dict[str, Any]:
    # A placeholder's text is ours, not the policy's: its form starts empty.
    texts = {} if blank else versions.texts(db.session, version)
    form: dict[str, Any] = {
        "label": version.label,
        "effective_on": version.effective_on.isoformat(),
        "material": version.material,
        "changes_partner_sharing": version.changes_partner_sharing,
    }
    for locale in LOCALES:
        text = texts.get(locale)
        form[f"body_{locale}"] = text.body if text else ""
        form[f"summary_{locale}"] = text.summary if text else ""
    return form


def _load(version_id: int) -> PolicyVersion:
    version = db.session.get(PolicyVersion, version_id)
    if version is None:
        abort(404, description="There is no policy version with this id.")
    return version


def _to_page(version_id: int) -> ResponseReturnValue:
    return redirect(url_for("console.policies.show", version_id=version_id), code=303)


def _new_page(form: dict[str, Any], problems: dict[str, str], status: int) -> tuple[str, int]:
    settings = current_app.config["SETTINGS"]
    return render_template(
        "console/policies/new.html",
        form=form,
        problems=problems,
        locales=LOCALES,
        notice_days=settings.policy_notice_days,
        current=versions.in_force(db.session, versions.today()),
    ), status


def _show_page(
    version: PolicyVersion,
    form: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    on = versions.today()
    [listed] = versions.with_status(db.session, [version], on)
    texts = versions.texts(db.session, version)
    notice = notices.notice_of(db.session, version.id)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return render_template(
        "console/policies/show.html",
        notice=notice,
        notice_progress=progress.progress(db.session, app, notice) if notice else None,
        version=version,
        state=listed.status,
        texts=texts,
        previews={locale: render(text.body) for locale, text in texts.items()},
        form=form or _stored_form(version, blank=version.placeholder),
        problems=problems or {},
        locales=LOCALES,
        notice_days=current_app.config["SETTINGS"].policy_notice_days,
        current=versions.in_force(db.session, on),
    ), status


@bp.get("")
@requires_role(Role.ADMIN)
def index() -> str:
    """List every version, drafts too, with its state, dates and flags."""
    listed = versions.with_status(db.session, versions.every_version(db.session), versions.today())
    return render_template("console/policies/index.html", listed=listed)


@bp.get("/new")
@requires_role(Role.ADMIN)
def new() -> tuple[str, int]:
    """The form for a new draft."""
    return _new_page(_form(MultiDict()), {}, 200)


@bp.post("")
@requires_role(Role.ADMIN)
def create() -> ResponseReturnValue:
    """Save a new draft (it is checked as if it were to be published today)."""
    form = _form(request.form)
    draft, problems = _draft(form)
    if problems:
        return _new_page(form, problems, 400)
    settings = current_app.config["SETTINGS"]
    try:
        version = publishing.create(
            db.session, draft, settings, current_staff(), utcnow(), client_ip()
        )
    except PolicyError as exc:
        db.session.rollback()
        return _new_page(form, exc.problems, 400)
    db.session.commit()
    flash(f"Draft {version.label} saved. Check it, then publish it.", "ok")
    return _to_page(version.id)


@bp.get("/<int:version_id>")
@requires_role(Role.ADMIN)
def show(version_id: int) -> tuple[str, int]:
    """A version as it reads in each language; a draft's form; publishing."""
    return _show_page(_load(version_id))


@bp.post("/<int:version_id>")
@requires_role(Role.ADMIN)
def save(version_id: int) -> ResponseReturnValue:
    """Save a draft's changes (a published version never changes)."""
    version = _load(version_id)
    form = _form(request.form)
    draft, problems = _draft(form)
    if problems:
        return _show_page(version, form, problems, 400)
    settings = current_app.config["SETTINGS"]
    try:
        publishing.edit(
            db.session, version_id, draft, settings, current_staff(), utcnow(), client_ip()
        )
    except PolicyError as exc:
        db.session.rollback()
        return _show_page(_load(version_id), form, exc.problems, 400)
    db.session.commit()
    flash("Draft saved.", "ok")
    return _to_page(version_id)


@bp.post("/<int:version_id>/publish")
@requires_role(Role.ADMIN)
def publish(version_id: int) -> ResponseReturnValue:
    """Publish a draft for good (checked again as of now)."""
    version = _load(version_id)
    if request.form.get("confirm") != "yes":
        return _show_page(version, problems={"confirm": "Tick the box to confirm."}, status=400)
    settings = current_app.config["SETTINGS"]
    now = utcnow()
    try:
        published = publishing.publish(
            db.session, version_id, settings, current_staff(), now, client_ip()
        )
    except PolicyError as exc:
        db.session.rollback()
        return _show_page(_load(version_id), problems=exc.problems, status=400)
    said = f"Version {published.label} is published; it takes effect on {published.effective_on}."
    if published.material:
        # In the same transaction: a published material change always has its notice.
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        notice = notices.schedule(db.session, app, published, campaign_actor(), now)
        when = f"{notice.scheduled_at:%Y-%m-%d %H:%M}"
        said += f" Its notice goes to every account holder from {when} UTC."
    db.session.commit()
    flash(said, "ok")
    return _to_page(version_id)


@bp.post("/<int:version_id>/delete")
@requires_role(Role.ADMIN)
def delete(version_id: int) -> ResponseReturnValue:
    """Delete a draft."""
    version = _load(version_id)
    label = version.label
    try:
        publishing.delete_draft(db.session, version_id, current_staff(), utcnow(), client_ip())
    except PolicyError as exc:
        db.session.rollback()
        return _show_page(_load(version_id), problems=exc.problems, status=400)
    db.session.commit()
    flash(f"Draft {label} deleted.", "ok")
    return redirect(url_for("console.policies.index"), code=303)


@bp.post("/<int:version_id>/text")
@requires_role(Role.ADMIN)
def record_text(version_id: int) -> ResponseReturnValue:
    """Record, once, the text of the version that predates the archive."""
    version = _load(version_id)
    form = {
        **_stored_form(version),
        **{k: v for k, v in _form(request.form).items() if k.startswith(("body_", "summary_"))},
    }
    draft, _ = _draft(form)
    try:
        publishing.record_initial_text(
            db.session, version_id, draft, current_staff(), utcnow(), client_ip()
        )
    except PolicyError as exc:
        db.session.rollback()
        return _show_page(_load(version_id), form, exc.problems, 400)
    db.session.commit()
    flash(f"The text of {version.label} is recorded; it can't change any more.", "ok")
    return _to_page(version_id)
