"""What can go wrong when managing staff accounts: one flat set of errors, one line each."""

from __future__ import annotations


class StaffError(ValueError):
    """A staff-account request that can't be carried out; the message says why, in one line."""


class InvalidEmail(StaffError):
    """The login is not a usable email address."""


class DuplicateEmail(StaffError):
    """A staff user with this email exists already."""


class WeakPassword(StaffError):
    """The password is too short."""


class UnknownTimeZone(StaffError):
    """The time zone is not an IANA name this machine knows."""


class LastAdmin(StaffError):
    """The change would leave no enabled admin."""


class SelfLockout(StaffError):
    """An admin tried to disable their own account."""
