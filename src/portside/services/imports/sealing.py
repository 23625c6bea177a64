"""`SecretBox`: secrets at rest (credential-set passwords) sealed with the deployment key.

AES-256-GCM with a fresh 96-bit nonce per secret; the stored value is `nonce || ciphertext`
with the key's id beside it, and the secret is bound to where it is kept (`context`, such as
the registry and the credential set's name), so a sealed value copied onto another row does
not open.

The key: `secrets_key` from the configuration if set (32 bytes, base64), else a key generated
at first use and stored in the database (`deployment_keys`), as the token-signing keys are.
A key in the configuration keeps a copy of the database (a backup, a dump) from revealing the
secrets; keys stored earlier stay usable for opening what they sealed. docs/import-and-cache.md
describes the handling.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from portside.metadata.credential_sets import DeploymentKeyStore
from portside.services.management.errors import Conflict, Invalid

__all__ = ["SealBroken", "SecretBox", "parse_key"]

_NONCE = 12
# cryptography (~9 MiB resident with its OpenSSL) is imported where a secret is sealed or
# opened: every worker builds this box at start, few ever use it.


class SealBroken(Conflict):
    """A sealed secret cannot be opened: its key is gone, or the value was tampered with."""


def parse_key(text: str) -> bytes:
    """A 32-byte key from its base64 text (standard or URL-safe); Invalid otherwise."""
    try:
        key = base64.urlsafe_b64decode(text.strip().replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError):
        raise Invalid("secrets_key is not base64") from None
    if len(key) != 32:
        raise Invalid("secrets_key must be 32 bytes (base64 of `openssl rand 32`)")
    return key


def _kid(key: bytes, origin: str) -> str:
    return f"{origin}-{hashlib.sha256(key).hexdigest()[:16]}"


class SecretBox:
    """Seals with the deployment key; opens with whichever known key sealed."""

    def __init__(self, keys: DeploymentKeyStore, configured: bytes | None = None) -> None:
        self._store = keys
        self._configured = configured
        self._keys: dict[str, bytes] = {}
        self._sealing: str | None = None
        if configured is not None:
            self._sealing = _kid(configured, "config")
            self._keys[self._sealing] = configured

    async def seal(self, secret: str, context: str) -> tuple[str, bytes]:
        """The id of the key used and `nonce || ciphertext` of `secret`, bound to `context`."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kid = await self._sealing_kid()
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self._keys[kid]).encrypt(nonce, secret.encode(), context.encode())
        return kid, nonce + sealed

    async def open(self, kid: str, sealed: bytes, context: str) -> str:
        """The secret `seal` sealed; SealBroken if its key is unknown or the value altered."""
        key = self._keys.get(kid)
        if key is None:
            self._keys.update(await self._store.all())
            key = self._keys.get(kid)
        if key is None:
            raise SealBroken(f"the deployment key {kid!r} that sealed this secret is not known")
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            plain = AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], context.encode())
        except (InvalidTag, ValueError):
            raise SealBroken("a sealed secret does not open with its key (altered?)") from None
        return plain.decode()

    async def _sealing_kid(self) -> str:
        if self._sealing is not None:
            return self._sealing
        stored = await self._store.all()
        if not stored:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            key = AESGCM.generate_key(bit_length=256)
            await self._store.add_first(_kid(key, "db"), key)
            stored = await self._store.all()
        self._keys.update(stored)
        self._sealing = next(iter(stored))
        return self._sealing
