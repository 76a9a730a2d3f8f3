"""Email addresses: validation, normalisation, and the keyed hash kept instead of an address.

One form of an address is used everywhere it is stored, hashed or sent: email-validator's
ASCII form, whose domain is IDNA 2008 A-labels. Python's own "idna" codec is IDNA 2003, which
maps `faß.de` to `fass.de` and `σσς.gr` to another name than IDNA 2008 does: mail for one
person would reach someone else, and a removal would block the wrong hash.
"""

from __future__ import annotations

import hashlib
import hmac

from email_validator import EmailNotValidError, validate_email


class InvalidAddress(ValueError):
    """The text is not a usable email address."""


def normalize(address: str, *, check_deliverability: bool = False) -> str:
    """Validate an address and return its one stored form: ASCII, domain as IDNA 2008 A-labels.

    A non-ASCII local part (`prív@example.org`) is refused: it needs SMTPUTF8 end to end,
    which relays may not offer, and an invitation that can never leave would hold the address
    for its whole window.
    """
    try:
        result = validate_email(
            address, check_deliverability=check_deliverability, allow_smtputf8=False
        )
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from exc
    ascii_form = result.ascii_email
    if ascii_form is None:  # pragma: no cover - allow_smtputf8=False guarantees one
        raise InvalidAddress("the address has no ASCII form")
    if "=?" in ascii_form.rpartition("@")[0]:
        # Legal characters, but some mail software decodes them as an RFC 2047 encoded-word
        # even inside an address, which would turn them into a forged header line.
        raise InvalidAddress("The part before the @-sign may not contain '=?'.")
    return ascii_form


def address_hash(address: str, key: str) -> str:
    """Return the HMAC-SHA256 of an address, case-folded so one mailbox has one hash."""
    return hmac.new(key.encode(), address.strip().lower().encode(), hashlib.sha256).hexdigest()
