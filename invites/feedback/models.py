"""Feedback state: soft-bounce counts per address (keyed hash)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from invites.core.db import db


class SoftBounceCount(db.Model):  # type: ignore[name-defined]
    """Soft bounces of an address (keyed hash) in the current window."""

    __tablename__ = "soft_bounces"
    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime]
    count: Mapped[int] = mapped_column(default=0)
