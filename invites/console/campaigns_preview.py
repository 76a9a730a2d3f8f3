"""Preview a campaign's locale as a sample contact would get it, and send it as a test.

The preview page frames the rendered email twice, at a desktop and a phone width. The email
itself comes from its own URL with its own policy: the frame is sandboxed (no scripts, no
forms), the email may use its inline styles and nothing else, and only the console may
frame it. Its links lead to the home page, so following one changes nobody's choices.
"""

from __future__ import annotations

from flask import Response, abort, current_app, flash, render_template, request
from flask.typing import ResponseReturnValue

from invites.campaigns import content, testsend
from invites.campaigns.content import LOCALES
from invites.campaigns.models import Campaign
from invites.console.campaign_forms import FormError, test_addresses
from invites.console.campaigns import actor, bp, campaign_page, contents, load, to_page
from invites.core.db import db
from invites.core.mail import link
from mailer import Rendered
from mailer.preview import links_in_new_tab

#: Sample contacts a preview can be rendered for: their first name is all that differs.
SAMPLES = {
    "alex": ("Alex", "a contact called Alex"),
    "long": ("Maximilian-Alexander", "a contact with a long first name"),
    "none": ("", "a contact without a name"),
    "anna": ("Анна", "a contact called Анна"),
}
WIDTHS = {"desktop": 680, "phone": 375}
EMAIL_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)


def _render(campaign: Campaign, locale: str, first_name: str) -> Rendered:
    if locale not in LOCALES:
        abort(404, description=f"Campaigns are written in {', '.join(LOCALES)}.")
    row = contents(campaign).get(locale)
    if row is None or not row.compiled:
        abort(404, description=f"This campaign has no saved {locale} content yet.")
    harmless = link(current_app.config["SETTINGS"], "/")
    compiled = content.compiled_for(campaign, row)
    return compiled.render(
        first_name=first_name, unsubscribe_url=harmless, preferences_url=harmless
    )


def _sample() -> str:
    return request.args.get("sample", "alex") if request.args.get("sample") in SAMPLES else "alex"


@bp.get("/<int:campaign_id>/preview/<locale>")
def preview(campaign_id: int, locale: str) -> str:
    """One locale rendered for a sample contact, at desktop and phone width, with its text."""
    campaign = load(campaign_id)
    sample = _sample()
    rendered = _render(campaign, locale, SAMPLES[sample][0])
    return render_template(
        "console/campaigns/preview.html",
        campaign=campaign,
        locale=locale,
        locales=[loc for loc in LOCALES if loc in contents(campaign)],
        sample=sample,
        samples=SAMPLES,
        widths=WIDTHS,
        rendered=rendered,
        sender=campaign.sender or current_app.config["SETTINGS"].mail_from_marketing,
    )


@bp.get("/<int:campaign_id>/preview/<locale>/email.html")
def preview_email(campaign_id: int, locale: str) -> Response:
    """The rendered HTML part alone, for the preview's sandboxed frames."""
    campaign = load(campaign_id)
    rendered = _render(campaign, locale, SAMPLES[_sample()][0])
    response = Response(links_in_new_tab(rendered.html), mimetype="text/html")
    response.headers["Content-Security-Policy"] = EMAIL_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.post("/<int:campaign_id>/test")
def send_test(campaign_id: int) -> ResponseReturnValue:
    """Send one locale, marked as a test, to the addresses typed (not counted, rate-limited)."""
    campaign = load(campaign_id)
    locale = request.form.get("locale", "en")
    typed = request.form.get("addresses", "")
    kept = {"addresses": typed, "locale": locale}
    if locale not in contents(campaign):
        flash("Save that locale's content before sending a test of it.", "error")
        return campaign_page(campaign, 400, kept={"test": kept})
    try:
        addresses = test_addresses(typed)
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        ids = testsend.queue_tests(
            db.session, app, campaign, locale, addresses, actor(), first_name="Alex"
        )
    except FormError as exc:
        flash("No test sent: see the addresses below.", "error")
        return campaign_page(campaign, 400, kept={"test": kept}, errors=exc.as_errors())
    except testsend.TestLimitExceeded as exc:
        db.session.rollback()
        flash(
            f"You have sent the most tests allowed this hour; try again in {exc.retry_after} s.",
            "error",
        )
        return campaign_page(campaign, 429, kept={"test": kept})
    db.session.commit()
    flash(f"Test of the {locale} content queued for {len(ids)} address(es).", "ok")
    return to_page(campaign.id, "#test")
