"""Staff accounts: who may use the console and with which role. Nothing here knows HTTP."""

from __future__ import annotations

from .errors import StaffError
from .models import ALL_ROLES, Role, StaffUser

__all__ = ["ALL_ROLES", "Role", "StaffError", "StaffUser"]
