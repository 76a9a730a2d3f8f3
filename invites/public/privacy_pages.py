"""Public privacy pages: the processing register, and every version of the privacy policy.

Nothing here needs a link token: these pages are the same for everybody, in English or
Russian (`?lang=ru`, else the browser's language).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, render_template, request

from invites.core.db import db
from invites.core.locale import LOCALES, pick_locale
from invites.privacy import register, versions
from invites.privacy.markdown import render
from invites.public.privacy_text import TEXT

bp = Blueprint("privacy_pages", __name__, url_prefix="/privacy")


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    locale = pick_locale(request.args.get("lang"))
    return render_template(
        template, t=TEXT[locale], locale=locale, locales=LOCALES, **context
    ), status


@bp.get("/processing")
def processing() -> tuple[str, int]:
    """Show the processing register: every purpose, what it holds, why, how long, for whom."""
    return _page(
        "privacy/processing.html",
        purposes=register.purposes(),
        people=register.PEOPLE,
        recipients=register.RECIPIENTS,
        security=register.SECURITY,
        settings=current_app.config["SETTINGS"],
    )


@bp.get("/policy/versions")
def policy_versions() -> tuple[str, int]:
    """List every published version of the policy with its dates and summary."""
    entries = versions.archive(db.session, versions.today())
    locale = pick_locale(request.args.get("lang"))
    summaries = {
        e.version.id: versions.text_in(versions.texts(db.session, e.version), locale).summary
        for e in entries
    }
    return _page("privacy/versions.html", entries=entries, summaries=summaries)


@bp.get("/policy", defaults={"label": None})
@bp.get("/policy/<label>")
def policy(label: str | None) -> tuple[str, int]:
    """Show the version in force, or any published version by its label, for good."""
    entries = versions.archive(db.session, versions.today())
    current = next((e for e in entries if e.status == versions.Status.IN_FORCE), None)
    if label is None:
        entry = current
        if entry is None:
            return _page("privacy/no_version.html", 404, label=None)
    else:
        entry = next((e for e in entries if e.version.label == label), None)
        if entry is None:
            return _page("privacy/no_version.html", 404, label=label)
    position = entries.index(entry)
    previous = entries[position + 1].version if position + 1 < len(entries) else None
    locale = pick_locale(request.args.get("lang"))
    text = versions.text_in(versions.texts(db.session, entry.version), locale)
    return _page(
        "privacy/policy.html",
        entry=entry,
        current=current.version if current else None,
        previous=previous,
        body=render(text.body),
        summary=text.summary,
    )


def init_app(app: Flask) -> None:
    """Register the privacy pages."""
    app.register_blueprint(bp)
