"""Staff accounts: who may use the console and with which role. Nothing here knows HTTP."""

from __future__ import annotations

from flask import Flask

from invites.staff.errors import StaffError
from invites.staff.models import ALL_ROLES, Role, StaffRecoveryCode, StaffUser

__all__ = ["ALL_ROLES", "Role", "StaffError", "StaffRecoveryCode", "StaffUser"]


def init_app(app: Flask) -> None:
    """Register staff mail (password-reset links) with the delivery engine."""
    from invites.delivery import kinds
    from invites.staff.mail import StaffMail

    kinds.register(StaffMail())
