"""Staff accounts: who may use the console and with which role. Nothing here knows HTTP."""

from __future__ import annotations

from flask import Flask

from invites.staff.errors import StaffError
from invites.staff.models import ALL_ROLES, Role, StaffUser

__all__ = ["ALL_ROLES", "Role", "StaffError", "StaffUser"]


def init_app(app: Flask) -> None:
    """Nothing to wire for now: staff tables are known to SQLAlchemy once imported here."""
