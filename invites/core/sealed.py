"""Small secrets kept encrypted at rest, with keys derived from SECRET_KEY and its fallbacks.

AES-256-GCM from `cryptography`, with a key derived per purpose (HKDF-SHA256) from each
configured secret key, so a database dump alone reveals nothing, and no second secret has to
be configured and kept. Each value is bound to where it is stored (associated data such as
"staff_users.totp_secret:7"), so a ciphertext copied to another row or column doesn't open.
Each names the key that sealed it, so SECRET_KEY can rotate while the service runs: values
sealed with a key now in SECRET_KEY_FALLBACKS still open, and `open_` says when one should be
sealed again with the current key.
"""

from __future__ import annotations

import base64
import hashlib
import os
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
    """A sealed value that can't be opened: no configured key made it, or it was altered."""


@lru_cache(maxsize=64)
def _derive(secret: str, purpose: str) -> tuple[str, bytes]:
    """The AES key for a purpose under one secret, and the id that names it (not secret)."""
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"spotcam.{purpose}".encode()
    ).derive(secret.encode())
    # A hash of the derived key, not of the secret: it says which key, and nothing of either.
    return hashlib.sha256(b"key-id" + key).hexdigest()[:8], key


@dataclass(frozen=True)
class Sealer:
    """Seals with the current key; opens with it or any fallback key."""

    purpose: str
    secret_key: str
    fallbacks: tuple[str, ...] = ()

    def seal(self, plaintext: str, bound_to: str) -> str:
        """Encrypt `plaintext` for the place named by `bound_to` (table, column and row)."""
        key_id, key = _derive(self.secret_key, self.purpose)
        nonce = os.urandom(_NONCE_BYTES)
        body = AESGCM(key).encrypt(nonce, plaintext.encode(), bound_to.encode())
        return f"{VERSION}.{key_id}.{base64.urlsafe_b64encode(nonce + body).decode()}"

    def open_(self, sealed: str, bound_to: str) -> tuple[str, bool]:
        """Decrypt a sealed value; also say whether it was sealed with an older key."""
        version, _, rest = sealed.partition(".")
        key_id, _, body = rest.partition(".")
        if version != VERSION or not body:
            raise SealError("not a sealed value")
        for secret in (self.secret_key, *self.fallbacks):
            found_id, key = _derive(secret, self.purpose)
            if found_id != key_id:
                continue
            try:
                raw = base64.urlsafe_b64decode(body)
                plain = AESGCM(key).decrypt(
                    raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound_to.encode()
                )
            except (InvalidTag, ValueError) as exc:
                raise SealError("the sealed value was altered or belongs elsewhere") from exc
            return plain.decode(), secret != self.secret_key
        raise SealError("sealed with a key that is no longer configured")
