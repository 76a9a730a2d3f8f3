"""Signed link tokens: one serializer per purpose, opaque ids only, keys that can rotate."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import want_bytes

# A token for one purpose never validates for another: each has its own salt.
SALTS = {
    "accept": "spotcam.invitation.accept",
    "remove": "spotcam.invitation.remove",
    # Names a contact and a category: the preference centre and one-click unsubscribe.
    "preferences": "spotcam.contact.preferences",
    # Names a staff user and the state of their password: a console password-reset link.
    "staff_reset": "spotcam.staff.password_reset",
    # Names a data request: opens the page of everything held about an address, once.
    "data_request": "spotcam.privacy.data_request",
    # Names a pending address change: confirms the new address before it replaces the old.
    "address_change": "spotcam.privacy.address_change",
}


class _KeptSigner(TimestampSigner):
    """itsdangerous' signer, keeping each key it derives (it derives one per signature)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived: dict[bytes, bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        """The same key itsdangerous derives, derived once per secret."""
        raw = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        found = self._derived.get(raw)
        if found is None:
            found = self._derived[raw] = super().derive_key(raw)
        return found


class _KeptSerializer(URLSafeTimedSerializer):
    """itsdangerous' serializer with one signer per salt instead of a new one per token."""

    default_signer = _KeptSigner

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signers: dict[Any, Any] = {}

    def make_signer(self, salt: str | bytes | None = None) -> Any:
        """The signer for a salt, made once (signers keep no per-token state)."""
        found = self._signers.get(salt)
        if found is None:
            found = self._signers[salt] = super().make_signer(salt)
        return found


@lru_cache(maxsize=32)
def _serializer(keys: tuple[str, ...], salt: str) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with any of them. Kept per keys and
    # salt, with its signer and derived keys: making them again for each link cost more than
    # signing it. The tokens are byte for byte itsdangerous' own (a test checks), and a key
    # rotation is a new entry, never a stale one.
    return _KeptSerializer(list(keys), salt=salt)


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
