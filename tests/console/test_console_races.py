"""Two people act on one campaign at the same moment, over real HTTP, on PostgreSQL.

Each race sends its requests from threads released together to a threaded server while the
test holds the campaign's row lock; PostgreSQL shows every request waiting for it before it is
let go, so the requests really are in flight together, and the database picks their order.
Whichever order it picks, exactly one wins or both apply one after the other, the audit log
tells them in that order, and nothing unapproved is ever sent. Real workers then deliver, to
check that whatever was sent went once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from flask import Flask
from playwright.sync_api import Browser

from invites.campaigns import lifecycle
from invites.campaigns.models import Campaign, CampaignContent
from invites.core import audit, queue
from invites.core.config import Settings
from invites.core.db import db
from invites.staff import Role

from ..support.campaigns import (
    actor,
    expected,
    make_campaign,
    people,
    received,
    seed,
    send_now,
    step,
)
from ..support.helpers import run_jobs
from ..support.races import console_session, flash, form_of, race, row_held
from ..support.servers import serve
from ..support.smtpd import SMTPSink
from ..support.staff import PASSWORD, make_staff

pytestmark = pytest.mark.postgresql

NEW_CONTENT = {
    "subject": "Changed at the last moment",
    "preheader": "",
    "body_format": "markdown",
    "body": "# Something else\n\n[Settings]({{ preferences_url }})\n",
    "text_mode": "derived",
}
CHANGED = "the campaign changed since your page was loaded"
#: The live app, and a way to open a signed-in browser session as a staff member.
Site = tuple[Flask, Callable[[str], httpx.Client]]


@pytest.fixture(params=["optional", "required"])
def site(
    request: pytest.FixtureRequest, app: Flask, settings: Settings, smtp_sink: SMTPSink
) -> Iterator[tuple[Flask, Callable[[str], httpx.Client]]]:
    """The console over real HTTP, approval optional or required; 40 contacts; staff
    mia (who wrote the campaign) and leo; and a way to open a browser session as either."""
    opened: list[httpx.Client] = []

    with serve(settings, smtp_url=smtp_sink.url, campaign_approval=request.param) as (live, base):
        seed(live, people(40))
        for email in ("mia@example.com", "leo@example.com"):
            make_staff(live, email, Role.MARKETING)

        def session(email: str) -> httpx.Client:
            opened.append(console_session(base, email))
            return opened[-1]

        yield live, session
        for client in opened:
            client.close()


def _campaign(app: Flask, campaign_id: int) -> tuple[Campaign, str]:
    """The campaign as stored, and the subject of its English content."""
    with app.app_context():
        found = db.session.get(Campaign, campaign_id)
        content = db.session.get(CampaignContent, (campaign_id, "en"))
        assert found is not None and content is not None
        db.session.expunge(found)
        subject = content.subject
        db.session.remove()
    return found, subject


def _steps(app: Flask, campaign_id: int) -> list[str]:
    """The campaign's audit log, oldest first, in the order the rows were written."""
    with app.app_context():
        events = audit.events_for(db.session, "campaign", campaign_id)
        db.session.remove()
    assert [e.id for e in events] == sorted((e.id for e in events), reverse=True)
    assert [e.at for e in events] == sorted((e.at for e in events), reverse=True)
    return [e.action.removeprefix("campaign.") for e in reversed(events)]


def _written_by_mia(app: Flask) -> int:
    """A campaign whose content mia saved last (so leo may approve it)."""
    campaign_id = make_campaign(app)
    mia = actor(app, "mia@example.com")
    step(app, campaign_id, lambda c: setattr(c, "edited_by", mia.id))
    return campaign_id


def _approve(app: Flask, campaign_id: int) -> None:
    leo = actor(app, "leo@example.com")
    step(app, campaign_id, lambda c: lifecycle.approve(db.session, c, leo))


def _ready(app: Flask, approved: bool = True) -> tuple[int, str, str]:
    """A campaign mia wrote (approved by leo, with `approved`, where approval is required),
    its page and its English editor."""
    campaign_id = _written_by_mia(app)
    if approved and app.config["SETTINGS"].campaign_approval == "required":
        _approve(app, campaign_id)
    page = f"/console/campaigns/{campaign_id}"
    return campaign_id, page, f"{page}/content/en"


def _race(
    app: Flask, campaign_id: int, *calls: Callable[[], httpx.Response]
) -> list[httpx.Response]:
    return race(app.config["SQLALCHEMY_DATABASE_URI"], campaign_id, *calls)


def _codes(*responses: httpx.Response) -> list[int]:
    return [r.status_code for r in responses]


def _delivered_once_or_not_at_all(app: Flask, sink: SMTPSink, sent: bool) -> None:
    if not sent:
        # Nothing to run: no job was queued for it (so nothing can go out).
        with app.app_context():
            assert [queue.queue(name).count for name in queue.QUEUES] == [0, 0]
        assert not sink.messages
        return
    run_jobs(app)  # the planner, its second half and the batch, in one burst
    got = received(sink)
    assert set(got) == expected(people(40)) and max(got.values()) == 1


def test_edit_and_send_at_once(site: Site, smtp_sink: SMTPSink) -> None:
    app, session = site
    campaign_id, page, editor = _ready(app)
    before, old_subject = _campaign(app, campaign_id)
    author, sender = session("mia@example.com"), session("mia@example.com")
    edit_form, send_form = form_of(author, editor), form_of(sender, page)

    edited, sent = _race(
        app,
        campaign_id,
        lambda: author.post(editor, data={**edit_form, **NEW_CONTENT}),
        lambda: sender.post(f"{page}/send", data=send_form),
    )

    after, subject = _campaign(app, campaign_id)
    assert sorted(_codes(edited, sent)) == [303, 409]  # exactly one wins
    if sent.status_code == 303:
        # The send came first: the content stands as it was (and approved, where required);
        # the edit found a sending campaign.
        assert (after.status, after.version, subject) == ("sending", before.version, old_subject)
        assert CHANGED in " ".join(flash(edited.text))
        assert _steps(app, campaign_id)[-1] == "send"
    else:
        assert (after.status, after.version, subject) == (
            "draft",
            before.version + 1,
            NEW_CONTENT["subject"],
        )
        assert after.approved_version is None  # an edit withdraws an approval
        assert CHANGED in " ".join(flash(sent.text))
        assert "send" not in _steps(app, campaign_id)
    _delivered_once_or_not_at_all(app, smtp_sink, sent=sent.status_code == 303)
    assert not any("Changed" in m.message["Subject"] for m in smtp_sink.messages)


def test_approve_and_edit_at_once(site: Site, smtp_sink: SMTPSink) -> None:
    app, session = site
    campaign_id, page, editor = _ready(app, approved=False)
    before, _ = _campaign(app, campaign_id)
    author, approver = session("mia@example.com"), session("leo@example.com")
    edit_form, approve_form = form_of(author, editor), form_of(approver, page)

    approved, edited = _race(
        app,
        campaign_id,
        lambda: approver.post(f"{page}/approve", data=approve_form),
        lambda: author.post(editor, data={**edit_form, **NEW_CONTENT}),
    )

    after, _ = _campaign(app, campaign_id)
    steps = _steps(app, campaign_id)
    # The edit always applies: an approval changes neither the version nor the status.
    assert edited.status_code == 303 and after.version == before.version + 1
    if approved.status_code == 303:
        # Approved first, then edited: both, in that order; the edit withdrew the approval.
        assert steps[-2:] == ["approve", "edit"]
    else:
        assert approved.status_code == 409 and CHANGED in " ".join(flash(approved.text))
        assert "approve" not in steps
    assert after.approved_version is None
    # Whoever presses Send now sends only what a second person approved.
    sent = author.post(f"{page}/send", data=form_of(author, page))
    if app.config["SETTINGS"].campaign_approval == "required":
        assert sent.status_code == 409 and _campaign(app, campaign_id)[0].status == "draft"
    else:
        assert sent.status_code == 303
    _delivered_once_or_not_at_all(app, smtp_sink, sent=sent.status_code == 303)


def test_send_twice_at_once(site: Site, smtp_sink: SMTPSink) -> None:
    app, session = site
    campaign_id, page, _ = _ready(app)
    mia, leo = session("mia@example.com"), session("leo@example.com")
    forms = form_of(mia, page), form_of(leo, page)

    results = _race(
        app,
        campaign_id,
        lambda: mia.post(f"{page}/send", data=forms[0]),
        lambda: leo.post(f"{page}/send", data=forms[1]),
    )

    assert sorted(_codes(*results)) == [303, 409]
    assert Counter(_steps(app, campaign_id))["send"] == 1
    _delivered_once_or_not_at_all(app, smtp_sink, sent=True)


def test_send_and_cancel_at_once(site: Site, smtp_sink: SMTPSink) -> None:
    app, session = site
    campaign_id, page, _ = _ready(app)
    mia, leo = session("mia@example.com"), session("leo@example.com")
    send_form, cancel_form = form_of(mia, page), form_of(leo, page)

    sent, cancelled = _race(
        app,
        campaign_id,
        lambda: mia.post(f"{page}/send", data=send_form),
        lambda: leo.post(f"{page}/cancel", data=cancel_form),
    )

    assert sorted(_codes(sent, cancelled)) == [303, 409]
    status = _campaign(app, campaign_id)[0].status
    assert status == ("sending" if sent.status_code == 303 else "cancelled")
    _delivered_once_or_not_at_all(app, smtp_sink, sent=sent.status_code == 303)


def test_pause_from_an_old_page_and_resume_at_once(site: Site) -> None:
    app, session = site
    campaign_id = _written_by_mia(app)
    if app.config["SETTINGS"].campaign_approval == "required":
        _approve(app, campaign_id)
    send_now(app, campaign_id)  # no worker runs: it stays sending
    page = f"/console/campaigns/{campaign_id}"
    mia, leo = session("mia@example.com"), session("leo@example.com")
    old_page = form_of(mia, page)  # mia's tab, loaded while it was sending
    assert leo.post(f"{page}/pause", data=form_of(leo, page)).status_code == 303
    resume_form = form_of(leo, page)  # leo's page now offers Resume

    paused, resumed = _race(
        app,
        campaign_id,
        lambda: mia.post(f"{page}/pause", data=old_page),
        lambda: leo.post(f"{page}/resume", data=resume_form),
    )

    assert resumed.status_code == 303
    status = _campaign(app, campaign_id)[0].status
    steps = _steps(app, campaign_id)
    if paused.status_code == 303:
        # Resumed first, so it was sending again, as mia's page had shown: both, in order.
        assert status == "paused" and steps[-2:] == ["resume", "pause"]
    else:
        assert paused.status_code == 409 and CHANGED in " ".join(flash(paused.text))
        assert status == "sending" and steps[-2:] == ["pause", "resume"]


def test_pause_then_resume_from_two_browsers(
    app: Flask, settings: Settings, smtp_sink: SMTPSink, browser: Browser
) -> None:
    with serve(settings, smtp_url=smtp_sink.url) as (live, base):
        seed(live, people(20))
        campaign_id = make_campaign(live)
        send_now(live, campaign_id)  # no worker runs: it stays sending
        url = live.config["SQLALCHEMY_DATABASE_URI"]
        page = f"{base}/console/campaigns/{campaign_id}"
        contexts = [browser.new_context() for _ in range(2)]  # two people, two sessions
        try:
            tabs = []
            for email, context in zip(
                ("mia@example.com", "leo@example.com"), contexts, strict=True
            ):
                make_staff(live, email, Role.MARKETING)
                tab = context.new_page()
                tab.goto(base + "/console/login")
                tab.fill("#email", email)
                tab.fill("#password", PASSWORD)
                tab.click("#sign-in")
                tab.goto(page)
                tabs.append(tab)
            outcomes: dict[str, Any] = {}
            for button in ("pause", "resume"):
                for tab in tabs:
                    tab.goto(page)  # both see the campaign as it is now
                with row_held(url, campaign_id) as queued:
                    for tab in tabs:
                        tab.click(f"#{button}", no_wait_after=True)  # both at once
                    queued(2)
                for tab in tabs:
                    tab.wait_for_selector("p.flash")
                outcomes[button] = sorted(tab.inner_text("p.flash") for tab in tabs)
        finally:
            for context in contexts:
                context.close()
    assert outcomes["pause"][0].startswith("Not done: " + CHANGED)
    assert outcomes["pause"][1].startswith("Paused.")
    assert outcomes["resume"][0].startswith("Not done: " + CHANGED)
    assert outcomes["resume"][1] == "Resumed."
    steps = _steps(live, campaign_id)
    assert steps[-2:] == ["pause", "resume"] and Counter(steps)["pause"] == 1
