"""Email addresses encrypted at rest, found by their keyed hash (a blind index).

Every stored address is sealed (invites.core.sealed: AES-256-GCM under DATA_KEYS, keys kept
outside the database) and sits next to the keyed hash of the address (HMAC under
ADDRESS_HASH_KEY), which is what every lookup uses. A database dump alone reveals no address.

The associated data binds each ciphertext to its table, column and row: "contacts.email:<the
row's keyed hash>". The row's hash, rather than its id, because it exists before the INSERT
(ids don't, and the PostgreSQL invitation function inserts in one statement) and because it is
what names the row for every lookup. That binding is enough: a ciphertext moved to a row that
holds another address fails to open (its hash differs); one moved to a row with the same hash
could only say what that row already says, the same mailbox. Moving the hash along with it
would change the row's address outright, which no binding of a writable row can prevent, and
forging a hash for an address takes ADDRESS_HASH_KEY, which the database doesn't hold either.

Models declare `email = SealedAddress("contacts.email", "email_sealed", "email_hash")`: code
reads and writes `contact.email` as plaintext, and setting it keeps the hash in step. Core
queries select the sealed column and the hash, and call `Vault.open_address`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Generic, TypeVar, overload

from flask import current_app

from invites.core.addresses import address_hash
from invites.core.config import Settings, parse_data_keys
from invites.core.sealed import Keyring, SealError, key_id

__all__ = ["SealError", "SealedAddress", "Vault", "key_id", "vault"]

#: Room for a sealed 320-character address: "v1.<id ≤ 32>." and base64 of nonce, text, tag.
SEALED_LENGTH = 600

T = TypeVar("T")


class Vault:
    """Seals and opens addresses with the configured keys, bound to their place and hash."""

    def __init__(self, data_keys: str, hash_key: str) -> None:
        self.ring = Keyring(parse_data_keys("DATA_KEYS", data_keys))
        self.hash_key = hash_key

    def hash(self, address: str) -> str:
        """The keyed hash of an address (invites.core.addresses.address_hash)."""
        return address_hash(address, self.hash_key)

    def seal_address(self, place: str, address: str, email_hash: str) -> str:
        """Seal an address for `place` ("table.column") in the row whose hash is given."""
        return self.ring.seal(address, f"{place}:{email_hash}")

    def open_address(self, place: str, sealed: str, email_hash: str) -> str:
        """The address sealed in `place` of the row with this hash; SealError if it isn't one."""
        return self.ring.open_(sealed, f"{place}:{email_hash}")[0]

    def reseal(self, place: str, sealed: str, email_hash: str) -> str | None:
        """The value sealed again with the current key, or None when it is under it already."""
        if key_id(sealed) == self.ring.current:
            return None
        return self.seal_address(place, self.open_address(place, sealed, email_hash), email_hash)


@lru_cache(maxsize=8)
def _vault(data_keys: str, hash_key: str) -> Vault:
    return Vault(data_keys, hash_key)


def vault(settings: Settings | None = None) -> Vault:
    """The vault for these settings (default: the current app's), made once per key set."""
    settings = settings or current_app.config["SETTINGS"]
    return _vault(settings.data_keys, settings.address_hash_key)


class SealedAddress(Generic[T]):
    """A model attribute read and written as an address, stored sealed next to its hash."""

    def __init__(self, place: str, sealed: str, hashed: str, *, keep_hash: bool = True) -> None:
        self.place, self.sealed, self.hashed = place, sealed, hashed
        #: Whether erasing the address keeps its hash (an invitation's still blocks a removal).
        self.keep_hash = keep_hash

    @overload
    def __get__(self, obj: None, owner: Any) -> SealedAddress[T]: ...
    @overload
    def __get__(self, obj: object, owner: Any) -> T: ...
    def __get__(self, obj: object | None, owner: Any) -> Any:
        if obj is None:
            # In a query, use the sealed column and the hash: an address can't be compared.
            return self
        sealed = getattr(obj, self.sealed)
        if sealed is None:
            return None
        return vault().open_address(self.place, sealed, getattr(obj, self.hashed))

    def __set__(self, obj: object, address: T) -> None:
        if address is None:
            setattr(obj, self.sealed, None)
            if not self.keep_hash:
                setattr(obj, self.hashed, None)
            return
        assert isinstance(address, str)
        box = vault()
        email_hash = box.hash(address)
        sealed = getattr(obj, self.sealed)
        if (
            sealed is not None
            and getattr(obj, self.hashed) == email_hash
            and box.open_address(self.place, sealed, email_hash) == address
        ):
            return  # unchanged: no new nonce, so no UPDATE of the row
        setattr(obj, self.hashed, email_hash)
        setattr(obj, self.hashed, email_hash)
        setattr(obj, self.sealed, box.seal_address(self.place, address, email_hash))
