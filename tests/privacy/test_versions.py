"""Policy versions: drafts, the checks on publishing, states by date, and the initial version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import select

from invites.core import audit
from invites.core.db import db, utcnow
from invites.privacy import publishing, versions
from invites.privacy.models import PolicyText, PolicyVersion
from invites.privacy.publishing import PolicyError

from ..support.policy import INITIAL, admin, draft


def test_the_archive_starts_with_the_configured_version_in_force(app: Flask) -> None:
    with app.app_context():
        today = versions.today()
        current = versions.in_force(db.session, today)
        assert (
            current is not None
            and current.label == INITIAL == app.config["SETTINGS"].privacy_policy_version
        )
        assert current.placeholder and current.published_at is not None
        texts = versions.texts(db.session, current)
        assert set(texts) == {"en", "ru"}
        assert "was not recorded here" in texts["en"].body
        assert [e.status for e in versions.archive(db.session, today)] == [versions.Status.IN_FORCE]


def _problems(app: Flask, d: publishing.Draft) -> dict[str, str]:
    """What is wrong with saving this draft (nothing: it is saved)."""
    with app.app_context():
        try:
            publishing.create(db.session, d, app.config["SETTINGS"], admin(app), utcnow())
            db.session.commit()
        except PolicyError as exc:
            db.session.rollback()
            return exc.problems
        finally:
            db.session.remove()
    return {}


def test_a_draft_is_refused_with_what_to_fix(app: Flask) -> None:
    today = utcnow().date()
    soon = today + timedelta(days=5)
    assert _problems(app, draft("bad label!", soon))["label"].startswith("A label is 1-64")
    assert (
        "in the past" in _problems(app, draft("2027-01", today - timedelta(days=1)))["effective_on"]
    )
    # The initial version took effect today, so today is taken; the past is refused, so a new
    # version always takes effect after the one in force.
    assert (
        "Version 2026-01 already takes effect"
        in (_problems(app, draft("2027-01", today))["effective_on"])
    )
    material = _problems(app, draft("2027-01", soon, material=True))
    assert "at least 30 days" in material["effective_on"]
    partner_only = draft("2027-01", today + timedelta(days=40))
    partner_only = publishing.Draft(**{**partner_only.__dict__, "changes_partner_sharing": True})
    assert "always material" in _problems(app, partner_only)["material"]
    empty = publishing.Draft(label="2027-01", effective_on=soon, bodies={"en": " "}, summaries={})
    assert set(_problems(app, empty)) == {"body_en", "body_ru", "summary_en", "summary_ru"}
    assert _problems(app, draft("2027-01", soon)) == {}
    assert "already a version labelled" in _problems(app, draft("2027-01", soon))["label"]
    assert "already takes effect" in _problems(app, draft("2027-02", soon))["effective_on"]
    with app.app_context():
        assert [v.label for v in versions.every_version(db.session)] == ["2027-01", INITIAL]


def _create(app: Flask, d: publishing.Draft) -> int:
    with app.app_context():
        version = publishing.create(db.session, d, app.config["SETTINGS"], admin(app), utcnow())
        db.session.commit()
        version_id = version.id
        db.session.remove()
    return version_id


def test_versions_are_upcoming_then_in_force_then_superseded(app: Flask) -> None:
    today = utcnow().date()
    first = _create(app, draft("2027-01", today + timedelta(days=2)))
    second = _create(app, draft("2027-02", today + timedelta(days=40), material=True))
    settings = app.config["SETTINGS"]
    with app.app_context():
        boss = admin(app)
        for version_id in (first, second):
            publishing.publish(db.session, version_id, settings, boss, utcnow())
        db.session.commit()
        v2 = db.session.get(PolicyVersion, second)
        assert v2 is not None and v2.notice_on == today + timedelta(days=10)
        assert db.session.get(PolicyVersion, first).notice_on is None  # type: ignore[union-attr]

        def states(days: int) -> dict[str, str]:
            on = today + timedelta(days=days)
            return {e.version.label: e.status.value for e in versions.archive(db.session, on)}

        assert states(0) == {"2027-02": "upcoming", "2027-01": "upcoming", INITIAL: "in force"}
        assert states(2) == {"2027-02": "upcoming", "2027-01": "in force", INITIAL: "superseded"}
        assert states(40) == {
            "2027-02": "in force",
            "2027-01": "superseded",
            INITIAL: "superseded",
        }
        entries = versions.archive(db.session, today + timedelta(days=40))
        assert [e.until for e in entries] == [
            None,
            today + timedelta(days=40),
            today + timedelta(days=2),
        ]
        db.session.remove()


def test_publishing_checks_again_fixes_the_version_and_audits_it(app: Flask) -> None:
    today = utcnow().date()
    version_id = _create(app, draft("2027-01", today + timedelta(days=1)))
    settings = app.config["SETTINGS"]
    # Two days later the draft's day has passed: publishing refuses it, and nothing changes.
    later = datetime.combine(today + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    with app.app_context(), time_machine.travel(later, tick=False):
        with pytest.raises(PolicyError, match="past"):
            publishing.publish(db.session, version_id, settings, admin(app), utcnow())
        db.session.rollback()
        assert db.session.get(PolicyVersion, version_id).published_at is None  # type: ignore[union-attr]
        db.session.remove()
    with app.app_context():
        boss = admin(app)
        publishing.publish(db.session, version_id, settings, boss, utcnow(), "192.0.2.7")
        db.session.commit()
        for step in (
            lambda: publishing.publish(db.session, version_id, settings, boss, utcnow()),
            lambda: publishing.edit(
                db.session,
                version_id,
                draft("2027-01", today + timedelta(days=3)),
                settings,
                boss,
                utcnow(),
            ),
            lambda: publishing.delete_draft(db.session, version_id, boss, utcnow()),
        ):
            with pytest.raises(PolicyError, match="never changes"):
                step()
            db.session.rollback()
        [event] = [
            e
            for e in audit.events_for(db.session, "policy_version", version_id)
            if e.action == "policy.publish"
        ]
        assert event.actor == f"staff #{boss.id}" and event.ip == "192.0.2.7"
        assert event.details == {
            "label": "2027-01",
            "effective_on": (today + timedelta(days=1)).isoformat(),
            "material": False,
            "changes_partner_sharing": False,
            "notice_on": None,
        }
        actions = [e.action for e in audit.events_for(db.session, "policy_version", version_id)]
        assert sorted(actions) == ["policy.create", "policy.publish"]
        db.session.remove()


def test_a_draft_can_be_edited_and_deleted(app: Flask) -> None:
    today = utcnow().date()
    version_id = _create(app, draft("2027-01", today + timedelta(days=5)))
    settings = app.config["SETTINGS"]
    with app.app_context():
        boss = admin(app)
        edited = publishing.edit(
            db.session,
            version_id,
            draft("2027-1b", today + timedelta(days=6), body="New text"),
            settings,
            boss,
            utcnow(),
        )
        db.session.commit()
        assert (edited.label, edited.effective_on) == ("2027-1b", today + timedelta(days=6))
        assert versions.texts(db.session, edited)["en"].body == "New text"
        publishing.delete_draft(db.session, version_id, boss, utcnow())
        db.session.commit()
        assert db.session.get(PolicyVersion, version_id) is None
        assert (
            db.session.scalars(select(PolicyText).where(PolicyText.version_id == version_id)).all()
            == []
        )
        actions = [e.action for e in audit.events_for(db.session, "policy_version", version_id)]
        assert sorted(actions) == ["policy.create", "policy.delete", "policy.edit"]
        db.session.remove()


def test_the_initial_text_can_be_recorded_once(app: Flask) -> None:
    with app.app_context():
        initial = versions.in_force(db.session, versions.today())
        assert initial is not None
        boss = admin(app)
        text = draft(INITIAL, initial.effective_on, body="# The text as it was")
        publishing.record_initial_text(db.session, initial.id, text, boss, utcnow())
        db.session.commit()
        assert versions.texts(db.session, initial)["en"].body == "# The text as it was"
        assert db.session.get(PolicyVersion, initial.id).placeholder is False  # type: ignore[union-attr]
        with pytest.raises(PolicyError, match="recorded already"):
            publishing.record_initial_text(db.session, initial.id, text, boss, utcnow())
        db.session.rollback()
        db.session.remove()


def test_model_and_migration_agree(app: Flask) -> None:
    ours = {"policy_versions", "policy_texts", "policy_version"}
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [
            d for d in compare_metadata(context, db.metadata) if any(n in repr(d) for n in ours)
        ]
    assert diff == []


def test_a_language_added_later_reads_the_english_text_of_older_versions() -> None:
    english = PolicyText(version_id=1, locale="en", body="# Policy", summary="What changed.")
    assert versions.text_in({"en": english}, "de") is english
    russian = PolicyText(version_id=1, locale="ru", body="# Политика", summary="Изменения.")
    assert versions.text_in({"en": english, "ru": russian}, "ru") is russian
