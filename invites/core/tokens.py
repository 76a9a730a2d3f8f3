"""Signed link tokens: one serializer per purpose, opaque ids only, keys that can rotate."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

# A token for one purpose never validates for another: each has its own salt.
SALTS = {
    "accept": "spotcam.invitation.accept",
    "remove": "spotcam.invitation.remove",
    # Names a contact and a category: the preference centre and one-click unsubscribe.
    "preferences": "spotcam.contact.preferences",
}


@lru_cache(maxsize=32)
def _serializer(keys: tuple[str, ...], salt: str) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with any of them. Kept per keys and
    # salt: building one (and its signers) cost as much as signing a campaign's link. A key
    # rotation is a new entry, never a stale one.
    return URLSafeTimedSerializer(list(keys), salt=salt)


class TokenError(Exception):
    """A link token that cannot be used."""


class TokenExpired(TokenError):
    """The token was valid but is older than its purpose allows."""


class TokenInvalid(TokenError):
    """The token was tampered with, truncated, or made for another purpose."""


@dataclass(frozen=True)
class Tokens:
    """Makes and checks tokens with the current key and accepts the fallbacks."""

    secret_key: str
    fallbacks: tuple[str, ...] = ()

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        return _serializer((*reversed(self.fallbacks), self.secret_key), SALTS[purpose])

    def make(self, purpose: str, opaque_id: str) -> str:
        """Sign an opaque id for a purpose."""
        return self._serializer(purpose).dumps(opaque_id)

    def load(self, purpose: str, token: str, max_age_seconds: int) -> str:
        """Return the opaque id in a token, or raise TokenExpired/TokenInvalid."""
        if not token or len(token) > 512:
            raise TokenInvalid("malformed token")
        try:
            value = self._serializer(purpose).loads(token, max_age=max_age_seconds)
        except SignatureExpired as exc:
            raise TokenExpired("this link has expired") from exc
        except BadSignature as exc:
            raise TokenInvalid("this link is not valid") from exc
        if not isinstance(value, str):
            raise TokenInvalid("this link is not valid")
        return value
