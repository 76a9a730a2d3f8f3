"""Policy versions: the archive of the privacy policy, each version's text per language."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from invites.core.db import db, utcnow


class PolicyVersion(db.Model):  # type: ignore[name-defined]
    """One version of the privacy policy: a draft until published, then never changed.

    Whether it is upcoming, in force or superseded follows from `published_at` and the
    effective dates of the published versions (`invites.privacy.versions.status`).
    """

    __tablename__ = "policy_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    #: What consent records name ("2026-01"); part of the version's public URL.
    label: Mapped[str] = mapped_column(String(64), unique=True)
    #: The UTC day it takes effect; one version per day, none before the one in force.
    effective_on: Mapped[date] = mapped_column(unique=True)
    #: A material change: people are told POLICY_NOTICE_DAYS before it takes effect, on
    #: `notice_on`, by its notice campaign (invites.campaigns.notices).
    material: Mapped[bool] = mapped_column(default=False)
    #: It changes how partner offers work: a partner consent given under an earlier version
    #: stops counting once this one is in force, until the person consents again.
    changes_partner_sharing: Mapped[bool] = mapped_column(default=False)
    #: effective_on − POLICY_NOTICE_DAYS, fixed when a material version is published.
    notice_on: Mapped[date | None]
    #: The version in force when the archive began: its text was not recorded. An admin may
    #: record it once; until then the archive says so.
    placeholder: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Staff user ids (the audit log has who they were).
    created_by: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    published_by: Mapped[int | None]


class PolicyText(db.Model):  # type: ignore[name-defined]
    """A version's text in one language (Markdown) and its summary of what changed."""

    __tablename__ = "policy_texts"
    version_id: Mapped[int] = mapped_column(
        ForeignKey("policy_versions.id", ondelete="CASCADE"), primary_key=True
    )
    locale: Mapped[str] = mapped_column(String(8), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
