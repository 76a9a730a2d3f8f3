"""Notices of a material policy change, as account holders receive them: an admin publishes in
the console, the scheduler starts the notice campaign, real workers send it (one of them killed
mid-way), and the SMTP server shows one message per contact, in their language, with the
summary and links that open the new and the previous text. Invitees get nothing.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select

from invites.campaigns import content, lifecycle, notices
from invites.campaigns.models import Campaign, CampaignBatch, CampaignContent
from invites.core import audit
from invites.core.db import db, utcnow
from invites.privacy import publishing
from invites.staff import Role, users

from ..support.campaigns import Person, actor, ledger, people, seed, status, tick, until_done
from ..support.helpers import auth, invite, new_key
from ..support.policy import INITIAL, admin
from ..support.processes import Processes
from ..support.smtpd import ReceivedMessage, SMTPSink
from ..support.staff import CSRF_INPUT, PASSWORD, make_staff, post_form, signed_in

#: An admin's summary with what a template or a page must not take as markup.
SUMMARY_EN = "Partners get <nothing> of yours.\nWe keep logs {{ 7*7 }} days & no more."
SUMMARY_RU = "Партнёры не получают <ничего>.\nЖурналы храним {{ 7*7 }} дней."


def _gets_service(person: Person) -> bool:
    """The oracle: service mail stops only for a dead address or a spam report."""
    return person.suppressed not in ("hard_bounce", "complaint", "manual")


def _draft(label: str, days: int, *, material: bool) -> publishing.Draft:
    return publishing.Draft(
        label=label,
        effective_on=utcnow().date() + timedelta(days=days),
        material=material,
        bodies={"en": f"# Policy {label}\n\nNew words.", "ru": f"# Политика {label}\n\nНовое."},
        summaries={"en": SUMMARY_EN, "ru": SUMMARY_RU},
    )


def _publish(app: Flask, client: FlaskClient, d: publishing.Draft) -> int:
    """Save a draft as the signed-in admin and publish it from its console page."""
    with app.app_context():
        boss = users.find_by_email(db.session, "dpo@example.com")
        assert boss is not None
        version = publishing.create(db.session, d, app.config["SETTINGS"], boss, utcnow())
        db.session.commit()
        version_id = version.id
        db.session.remove()
    path = f"/console/policies/{version_id}"
    done = post_form(client, path + "/publish", {"confirm": "yes"}, path)
    assert done.status_code == 303, done.text
    return version_id


def _notice(app: Flask, version_id: int) -> Campaign | None:
    with app.app_context():
        found = notices.notice_of(db.session, version_id)
        if found is not None:
            db.session.expunge(found)
        db.session.remove()
    return found


def _notices(sink: SMTPSink, campaign_id: int) -> list[ReceivedMessage]:
    """The messages of this campaign (an invitation may have arrived too)."""
    mine = f"<campaign-{campaign_id}."
    return [m for m in sink.messages if m.message["Message-ID"].startswith(mine)]


def _wait(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def _leased(app: Flask, campaign_id: int) -> bool:
    with app.app_context():
        found = db.session.scalar(
            select(func.count(CampaignBatch.id)).where(
                CampaignBatch.campaign_id == campaign_id,
                CampaignBatch.status == "running",
                CampaignBatch.leased_until > utcnow(),
            )
        )
        db.session.remove()
    return bool(found)


def _links(message: ReceivedMessage) -> list[str]:
    return re.findall(r"https?://\S+", message.text or "")


def test_a_material_change_notifies_each_contact_once_even_with_a_worker_killed(
    camp: Flask, smtp_sink: SMTPSink, processes: Processes
) -> None:
    audience = people(240)
    ids = seed(camp, audience)
    # An invitee: their address is held only for their invitation, never for a notice.
    key = new_key(camp, ["invitations", "contacts"])
    api = camp.test_client()
    assert invite(api, key, "invitee@example.net").status_code == 202
    # An account erased before the notice goes: nothing is left to write to.
    erased = next(p for p in audience if _gets_service(p))
    assert api.delete(f"/api/v1/contacts/user-{erased.n}", headers=auth(key)).status_code == 204
    boss = signed_in(camp, "dpo@example.com", Role.ADMIN)

    version_id = _publish(camp, boss, _draft("2027-01", 30, material=True))

    notice = _notice(camp, version_id)
    assert notice is not None and notice.category == "service" and notice.status == "scheduled"
    assert notice.scheduled_at is not None and notice.scheduled_at <= utcnow()
    with camp.app_context():
        logged = [e for e in audit.recent(db.session) if e.action == "policy.notice_scheduled"]
        assert [(e.actor, e.details["campaign"]) for e in logged] == [
            (users.find_by_email(db.session, "dpo@example.com").label, notice.id)  # type: ignore[union-attr]
        ]
        db.session.remove()
    smtp_sink.store_then_reply_late(0.02, times=10_000)  # slow enough to kill it mid-way
    tick(camp)  # the scheduler's tick: its time has come
    assert status(camp, notice.id) == "sending"
    first = processes.start(camp.config["SETTINGS"], "worker", "--queues", "mail,campaigns")
    _wait(lambda: len(_notices(smtp_sink, notice.id)) >= 40, "the first worker to send some")

    first.kill()  # parent and work-horse, mid-batch
    before = len(_notices(smtp_sink, notice.id))
    _wait(lambda: not _leased(camp, notice.id), "the dead run's lease (2 s here) to run out")
    tick(camp)
    until_done(camp, notice.id)

    expected = {p.email for p in audience if _gets_service(p)} - {erased.email}
    got = Counter(m.rcpt_tos[0] for m in _notices(smtp_sink, notice.id))
    assert before < len(expected)
    assert max(got.values()) == 1, "someone got two notices"
    assert set(got) == expected, "someone was skipped (or written to who shouldn't be)"
    assert "invitee@example.net" not in got
    states = Counter(ledger(camp, notice.id).values())
    assert states["unknown"] <= 1  # at most the one on the wire when the worker died
    assert states["sent"] + states["unknown"] == len(expected)
    # A dead or complaining address was left out when the audience was planned, as for
    # any campaign; the erased account, the invitee and an unsubscribe from marketing weren't.
    assert set(ledger(camp, notice.id)) == {ids[e] for e in expected}

    by_address = {m.rcpt_tos[0]: m for m in _notices(smtp_sink, notice.id)}
    reader = camp.test_client()
    for locale, summary in (("en", SUMMARY_EN), ("ru", SUMMARY_RU)):
        person = next(p for p in audience if p.locale == locale and p.email in expected)
        message = by_address[person.email]
        effective = (utcnow().date() + timedelta(days=30)).isoformat()
        subject = {"en": "Our privacy policy changes on", "ru": "Политика конфиденциальности"}
        assert message.message["Subject"].startswith(subject[locale])
        assert effective in message.message["Subject"]
        # Service mail: from the service address, no one-click unsubscribe.
        assert message.message["From"] == camp.config["SETTINGS"].mail_from_service
        assert message.message["List-Unsubscribe"] is None
        text, html = (message.text or "").replace("\r\n", "\n"), message.html or ""
        assert summary in text  # as the admin wrote it, {{ }} and < > included
        assert "&lt;" in html and "<nothing>" not in html and "<ничего>" not in html
        assert "{{ 7*7 }}" in html and " 49 " not in text
        assert f"Person{person.n}" in text  # personalised, as any campaign
        query = "" if locale == "en" else "?lang=ru"
        base = "https://mail.spotcam.test/privacy/policy/"
        assert f"{base}2027-01{query}" in _links(message)
        assert f"{base}{INITIAL}{query}" in _links(message)
        for url, words in ((f"{base}2027-01{query}", "2027-01"), (f"{base}{INITIAL}{query}", "")):
            page = reader.get(url.removeprefix("https://mail.spotcam.test"))
            assert page.status_code == 200, url
            assert words in page.text
            assert f'lang="{locale}"' in page.text

    # Nothing more goes: the campaign is done, and publishing can't happen twice.
    assert status(camp, notice.id) == "done"
    path = f"/console/policies/{version_id}"
    again = post_form(boss, path + "/publish", {"confirm": "yes"}, path)
    assert again.status_code == 400
    with camp.app_context():
        assert (
            db.session.scalar(
                select(func.count(Campaign.id)).where(Campaign.policy_version_id == version_id)
            )
            == 1
        )
        db.session.remove()
    sent = len(_notices(smtp_sink, notice.id))
    tick(camp)
    until_done(camp, notice.id)
    assert len(_notices(smtp_sink, notice.id)) == sent


def test_a_change_that_is_not_material_sends_no_notice(camp: Flask) -> None:
    seed(camp, people(10))
    boss = signed_in(camp, "dpo@example.com", Role.ADMIN)

    version_id = _publish(camp, boss, _draft("2027-01", 5, material=False))

    assert _notice(camp, version_id) is None
    with camp.app_context():
        assert db.session.scalar(select(func.count(Campaign.id))) == 0
        db.session.remove()


def test_a_later_notice_waits_for_its_day_and_staff_cannot_change_it(camp: Flask) -> None:
    seed(camp, people(10))
    boss = signed_in(camp, "dpo@example.com", Role.ADMIN)

    version_id = _publish(camp, boss, _draft("2027-01", 45, material=True))

    notice = _notice(camp, version_id)
    assert notice is not None and notice.scheduled_at is not None
    assert notice.scheduled_at.date() == utcnow().date() + timedelta(days=15)
    tick(camp)
    assert status(camp, notice.id) == "scheduled"  # not before its day
    # Staff see it, but what the service wrote for it stays as it is.
    page = boss.get(f"/console/campaigns/{notice.id}")
    assert page.status_code == 200 and 'id="policy-notice"' in page.text
    service = camp.config["SETTINGS"].mail_from_service
    assert f"from {escape(service)}" in page.text  # service mail, from the service address
    for button in ("duplicate", "cancel", "unschedule", "send-now", "save-settings", "edit-en"):
        assert f'id="{button}"' not in page.text, button
    shown = f"/console/campaigns/{notice.id}"
    for part in ("preview/en", "preview/ru/email.html", "content/ru"):
        assert boss.get(f"{shown}/{part}").status_code == 200, part
    assert "Политика конфиденциальности меняется" in boss.get(f"{shown}/preview/ru").text
    editor = boss.get(f"{shown}/content/en").text
    assert 'id="save-content"' not in editor and "written by the service" in editor
    for step in ("duplicate", "cancel", "unschedule", "delete", "settings", "content/en"):
        refused = post_form(boss, f"{shown}/{step}", {"name": "Winter sale"}, shown)
        assert refused.status_code in (400, 409), (step, refused.status_code)
    marketer = actor(camp)
    with camp.app_context():
        campaign = db.session.get(Campaign, notice.id)
        assert campaign is not None
        for do in (
            lambda: lifecycle.update_settings(
                db.session, campaign, marketer, category="promotional"
            ),
            lambda: lifecycle.duplicate(db.session, campaign, marketer),
            lambda: lifecycle.cancel(db.session, campaign, marketer),
            lambda: lifecycle.delete_draft(db.session, campaign, marketer),
        ):
            with pytest.raises(lifecycle.CampaignError, match="notice of a privacy-policy change"):
                do()
            db.session.rollback()
        subjects = db.session.scalars(
            select(CampaignContent.subject).where(CampaignContent.campaign_id == notice.id)
        ).all()
        assert len(subjects) == 2
        assert db.session.scalar(select(func.count(Campaign.id))) == 1
        db.session.remove()
    # The version's page links its notice and says when it goes.
    version_page = boss.get(f"/console/policies/{version_id}")
    assert f'href="/console/campaigns/{notice.id}"' in version_page.text
    assert 'id="notice-starts"' in version_page.text


def test_admins_publishing_a_material_change_at_once_make_one_notice(
    live: tuple[Flask, str],
) -> None:
    app, base = live
    make_staff(app, "dpo@example.com", Role.ADMIN)
    with app.app_context():
        boss = users.find_by_email(db.session, "dpo@example.com")
        assert boss is not None
        d = _draft("2027-01", 31, material=True)
        version = publishing.create(db.session, d, app.config["SETTINGS"], boss, utcnow())
        db.session.commit()
        path, version_id = f"/console/policies/{version.id}", version.id
        db.session.remove()
    clients = []
    for n in range(3):
        make_staff(app, f"admin{n}@example.com", Role.ADMIN)
        client = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
        login = CSRF_INPUT.search(client.get("/console/login").text)
        assert login is not None
        form = {"email": f"admin{n}@example.com", "password": PASSWORD}
        signed = client.post("/console/login", data={**form, "csrf_token": login.group(1)})
        assert signed.status_code == 302, signed.text
        token = CSRF_INPUT.search(client.get(path).text)
        assert token is not None
        clients.append((client, token.group(1)))
    start = threading.Barrier(len(clients))
    answers: list[httpx.Response] = []

    def press(client: httpx.Client, token: str) -> None:
        start.wait()
        answers.append(client.post(path + "/publish", data={"confirm": "yes", "csrf_token": token}))

    threads = [threading.Thread(target=press, args=pair) for pair in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.status_code for r in answers) == [303, 400, 400]
    with app.app_context():
        found = db.session.scalars(
            select(Campaign.id).where(Campaign.policy_version_id == version_id)
        ).all()
        assert len(found) == 1
        logged = [
            e
            for e in audit.events_for(db.session, "policy_version", version_id)
            if e.action == "policy.notice_scheduled"
        ]
        assert len(logged) == 1 and logged[0].details["campaign"] == found[0]
        db.session.remove()
    for client, _ in clients:
        client.close()


def test_an_admins_summary_is_shown_as_written_whatever_it_holds(app: Flask) -> None:
    tricky = (
        "Quotes \" and ' and a backslash \\ and \\n and \\u0041;\n"
        "{% endraw %}{{ first_name }}{# note #}{% if 1 %}x{% endif %} <script>alert(1)</script>"
    )
    settings = app.config["SETTINGS"]
    with app.app_context():
        version = publishing.create(
            db.session,
            _draft("2027-01", 31, material=True),
            settings,
            admin(app),
            utcnow(),
        )
        campaign = Campaign(id=1, version=1, name="n", category="service", policy_version_id=1)
        for locale in ("en", "ru"):
            d = notices.draft_for(settings, version, None, tricky, locale)
            compiled = content.compile_locale(app, campaign, locale, d, sample={})
            url = "https://mail.spotcam.test/p/x"
            out = compiled.render(first_name="Ann", unsubscribe_url=url, preferences_url=url)
            assert tricky in out.text.replace("\r\n", "\n")
            assert str(escape(tricky.split("\n")[1])) in out.html
            assert "<script>" not in out.html and "Unsubscribe" not in out.html
        db.session.rollback()
        db.session.remove()
