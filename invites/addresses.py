"""Email addresses: validation, normalisation, and the keyed hash kept instead of an address."""

from __future__ import annotations

import hashlib
import hmac

from email_validator import EmailNotValidError, validate_email


class InvalidAddress(ValueError):
    """The text is not a usable email address."""


def normalize(address: str, *, check_deliverability: bool = False) -> str:
    """Validate an address and return its normalised form (domain lower-cased, IDNA handled)."""
    try:
        result = validate_email(address, check_deliverability=check_deliverability)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from exc
    return result.normalized


def address_hash(address: str, key: str) -> str:
    """Return the HMAC-SHA256 of an address, case-folded so one mailbox has one hash."""
    return hmac.new(key.encode(), address.strip().lower().encode(), hashlib.sha256).hexdigest()
