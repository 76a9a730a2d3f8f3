"""Delivery errors, split by whether the caller should retry."""

from __future__ import annotations


class MailError(Exception):
    """Base class for every delivery failure raised by the mailer."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        if self.code is None:
            return self.message
        return f"{self.code} {self.message}"


class TransientError(MailError):
    """A 4xx reply, timeout or connection failure: retry later with backoff."""


class PermanentError(MailError):
    """A 5xx reply: the message will never be accepted, so never retry it."""
