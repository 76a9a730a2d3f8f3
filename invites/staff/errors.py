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


class WrongPassword(StaffError):
    """The current password given to confirm a change is not the account's password."""


class ResetLinkRefused(StaffError):
    """A password-reset link that can't be used; the message says why, for the page."""


class ResetLinkExpired(ResetLinkRefused):
    """The link is older than an hour."""


class ResetLinkInvalid(ResetLinkRefused):
    """The link was altered, cut short, or made for something else."""


class ResetLinkUsed(ResetLinkRefused):
    """The password changed (or the account signed in, or was disabled) since it was sent."""


class TwoFactorError(StaffError):
    """A two-factor step that can't be carried out, or a code that is not right."""
