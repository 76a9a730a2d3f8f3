"""Password hashing for staff accounts: argon2id through argon2-cffi, never our own KDF."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context

from invites.staff.errors import WeakPassword

#: Shorter passwords are refused. Length, not composition rules, is what resists guessing.
MIN_LENGTH = 12

#: argon2-cffi's defaults are RFC 9106's low-memory profile; when a new release raises them,
#: hashes made with the old ones are upgraded at the next successful login (`needs_rehash`).
_HASHER = PasswordHasher()
#: With SPOTCAM_ENV=test only: the same argon2id at argon2-cffi's cheapest parameters, its
#: profile for tests. The suite creates and signs in staff users hundreds of times, each
#: ~0.2 s of CPU at the real cost; what it tests is the code around the hash, not its cost.
_TEST_HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)


def _hasher() -> PasswordHasher:
    """The hasher for the current app's settings (the real one outside an app, or not test)."""
    if has_app_context() and current_app.config["SETTINGS"].env == "test":
        return _TEST_HASHER
    return _HASHER


def check(password: str) -> None:
    """Refuse a password that is too short for a staff account."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must be at least {MIN_LENGTH} characters long")


def hash_password(password: str) -> str:
    """Check a new password and return its argon2id hash (a PHC string with salt and cost)."""
    check(password)
    return _hasher().hash(password)


def verify(stored: str, password: str) -> bool:
    """Whether the password matches the stored hash (a malformed hash never matches)."""
    try:
        return _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether the hash was made with other parameters than the current ones."""
    try:
        return _hasher().check_needs_rehash(stored)
    except InvalidHashError:
        return True


def verify_nothing(password: str) -> None:
    """Spend the time a real check takes, for a login that names no account.

    Without it a failed login would answer faster for an unknown email than for a wrong
    password, and the timing would tell which staff emails exist.
    """
    verify(_decoy(_hasher()), password)


@functools.cache
def _decoy(hasher: PasswordHasher) -> str:
    # Made once per process and hasher, with its parameters, of a password nobody can type.
    return hasher.hash("\x00decoy")
