"""The console's policy pages: admins only, forms that keep what was typed, and publishing
that happens once however many admins press the button at the same moment."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
from flask import Flask

from invites.core import audit
from invites.core.db import db, utcnow
from invites.privacy import publishing, versions
from invites.privacy.models import PolicyVersion
from invites.staff import Role

from ..support.policy import INITIAL, admin, draft
from ..support.staff import CSRF_INPUT, PASSWORD, label_of, make_staff, post_form, signed_in


def _form(label: str, effective: str, **extra: str) -> dict[str, str]:
    return {
        "label": label,
        "effective_on": effective,
        "summary_en": "Clearer words.",
        "body_en": "# Policy\n\nClearer.",
        "summary_ru": "Понятнее.",
        "body_ru": "# Политика\n\nПонятнее.",
        **extra,
    }


def test_only_admins_see_the_policy_pages(app: Flask) -> None:
    mia = signed_in(app, "mia@example.com", Role.MARKETING)
    assert mia.get("/console/policies").status_code == 403
    assert "Privacy policy" not in mia.get("/console/").text
    boss = signed_in(app, "boss@example.com", Role.ADMIN)
    listing = boss.get("/console/policies")
    assert listing.status_code == 200 and f'data-label="{INITIAL}"' in listing.text


def test_a_refused_draft_keeps_what_was_typed_and_a_saved_one_is_audited(app: Flask) -> None:
    boss = signed_in(app, "boss@example.com", Role.ADMIN)
    soon = (utcnow().date() + timedelta(days=5)).isoformat()
    refused = post_form(
        boss,
        "/console/policies",
        _form("2027-01", "not a day", material="on"),
        "/console/policies/new",
    )
    assert refused.status_code == 400
    assert "Write the day as YYYY-MM-DD." in refused.text
    assert 'value="2027-01"' in refused.text and "Понятнее." in refused.text
    assert 'id="material" checked' in refused.text
    without_csrf = boss.post("/console/policies", data=_form("2027-01", soon))
    assert without_csrf.status_code == 400 and "Form not accepted" in without_csrf.text
    saved = post_form(boss, "/console/policies", _form("2027-01", soon), "/console/policies/new")
    assert saved.status_code == 303
    page = boss.get(saved.headers["Location"])
    assert "<h1>Policy</h1>" in page.text and 'id="publish-form"' in page.text
    with app.app_context():
        [version] = [v for v in versions.every_version(db.session) if v.label == "2027-01"]
        [event] = audit.events_for(db.session, "policy_version", version.id)
        assert (event.action, event.actor) == ("policy.create", label_of(app, "boss@example.com"))
        db.session.remove()


def test_the_initial_version_takes_its_text_once(app: Flask) -> None:
    boss = signed_in(app, "boss@example.com", Role.ADMIN)
    with app.app_context():
        initial = versions.in_force(db.session, versions.today())
        assert initial is not None
        path = f"/console/policies/{initial.id}"
        db.session.remove()
    page = boss.get(path)
    assert 'id="text-form"' in page.text and 'id="publish-form"' not in page.text
    texts = {k: v for k, v in _form(INITIAL, "").items() if k.startswith(("body", "summary"))}
    assert post_form(boss, path + "/text", texts, path).status_code == 303
    public = app.test_client().get(f"/privacy/policy/{INITIAL}")
    assert "Clearer." in public.text and 'id="placeholder"' not in public.text
    again = boss.get(path)
    assert 'id="text-form"' not in again.text


def _http_admin(base: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    login = client.get("/console/login")
    token = CSRF_INPUT.search(login.text)
    assert token is not None
    done = client.post(
        "/console/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert done.status_code == 302, done.text
    return client


def test_admins_publishing_at_once_publish_once(live: tuple[Flask, str]) -> None:
    app, base = live
    with app.app_context():
        version = publishing.create(
            db.session,
            draft("2027-01", utcnow().date() + timedelta(days=3)),
            app.config["SETTINGS"],
            admin(app),
            utcnow(),
        )
        db.session.commit()
        path = f"/console/policies/{version.id}"
        version_id = version.id
        db.session.remove()
    clients = []
    for n in range(3):
        make_staff(app, f"admin{n}@example.com", Role.ADMIN)
        client = _http_admin(base, f"admin{n}@example.com")
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
    for refused in (r for r in answers if r.status_code == 400):
        assert "a published version never changes" in refused.text
    with app.app_context():
        row = db.session.get(PolicyVersion, version_id)
        assert row is not None and row.published_at is not None
        published = [
            e
            for e in audit.events_for(db.session, "policy_version", version_id)
            if e.action == "policy.publish"
        ]
        assert len(published) == 1 and published[0].actor_id == row.published_by
        db.session.remove()
    for client, _ in clients:
        client.close()
