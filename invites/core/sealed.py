"""Values kept encrypted at rest: AES-256-GCM under named keys, bound to where they are stored.

One format for every sealed value: "v1.<key id>.<base64url(nonce | ciphertext and tag)>".
The key id names the key that sealed it, so keys can rotate while the service runs: a
`Keyring` seals with its first key and opens with any of them, and `open_` says when a value
should be sealed again with the first. Each value is bound to where it is stored by the
associated data (such as "staff_users.totp_secret:7"), so a ciphertext copied to another row
or column doesn't open.

Two kinds of keyring use it. `Sealer`: small secrets (TOTP) under keys derived per purpose
(HKDF-SHA256) from SECRET_KEY and its fallbacks, so no second secret has to be kept. DATA_KEYS:
email addresses (invites.core.atrest), under keys configured apart from SECRET_KEY with ids of
the operator's choosing.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: The format's version: "v1.<key id>.<base64url(nonce | ciphertext and tag)>".
VERSION = "v1"
_NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed value that can't be opened: no configured key made it, or it was altered.

    Its text names the place and the key, never the value or what it holds.
    """


def key_id(sealed: str) -> str:
    """The id of the key a sealed value names (not secret), or "" for something else."""
    version, _, rest = sealed.partition(".")
    return rest.partition(".")[0] if version == VERSION else ""


class Keyring:
    """AES-256-GCM under named keys: the first seals, every one opens what it sealed."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("a keyring needs a key")
        # One AESGCM per key, made once: opening a value costs no key schedule.
        self._aead = {name: AESGCM(key) for name, key in reversed(keys)}
        self.current = keys[0][0]
        self.ids = tuple(dict.fromkeys(name for name, _ in keys))

    def seal(self, plaintext: str, bound_to: str) -> str:
        """Encrypt `plaintext` for the place named by `bound_to` (table, column and row)."""
        nonce = os.urandom(_NONCE_BYTES)
        body = self._aead[self.current].encrypt(nonce, plaintext.encode(), bound_to.encode())
        return f"{VERSION}.{self.current}.{base64.urlsafe_b64encode(nonce + body).decode()}"

    def open_(self, sealed: str, bound_to: str) -> tuple[str, bool]:
        """Decrypt a sealed value; also say whether it was sealed with an older key."""
        version, _, rest = sealed.partition(".")
        name, _, body = rest.partition(".")
        place = bound_to.partition(":")[0]
        if version != VERSION or not body:
            raise SealError(f"{place}: not a sealed value")
        aead = self._aead.get(name)
        if aead is None:
            raise SealError(f"{place}: sealed with key {name!r}, which is no longer configured")
        try:
            raw = base64.urlsafe_b64decode(body)
            plain = aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound_to.encode())
        except (InvalidTag, ValueError) as exc:
            raise SealError(f"{place}: the sealed value was altered or belongs elsewhere") from exc
        return plain.decode(), name != self.current


@lru_cache(maxsize=64)
def _derive(secret: str, purpose: str) -> tuple[str, bytes]:
    """The AES key for a purpose under one secret, and the id that names it (not secret)."""
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"spotcam.{purpose}".encode()
    ).derive(secret.encode())
    # A hash of the derived key, not of the secret: it says which key, and nothing of either.
    return hashlib.sha256(b"key-id" + key).hexdigest()[:8], key


@lru_cache(maxsize=16)
def _derived_ring(purpose: str, secrets: tuple[str, ...]) -> Keyring:
    return Keyring([_derive(secret, purpose) for secret in secrets])


@dataclass(frozen=True)
class Sealer:
    """Seals with a key derived from the current secret; opens with it or any fallback's."""

    purpose: str
    secret_key: str
    fallbacks: tuple[str, ...] = ()

    @property
    def _ring(self) -> Keyring:
        return _derived_ring(self.purpose, (self.secret_key, *self.fallbacks))

    def seal(self, plaintext: str, bound_to: str) -> str:
        """Encrypt `plaintext` for the place named by `bound_to` (table, column and row)."""
        return self._ring.seal(plaintext, bound_to)

    def open_(self, sealed: str, bound_to: str) -> tuple[str, bool]:
        """Decrypt a sealed value; also say whether it was sealed with an older key."""
        return self._ring.open_(sealed, bound_to)
