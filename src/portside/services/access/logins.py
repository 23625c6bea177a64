"""What a login proves: which of an owner's stored secrets a password matches, and Basic
credentials. (What tokens say about a login lives in `auth.claims`.)"""

from __future__ import annotations

import base64
import binascii

import anyio

from portside.auth.claims import secret_fingerprint
from portside.auth.errors import Unauthorized
from portside.auth.secrets import SecretHasher
from portside.metadata.clock import utcnow
from portside.metadata.credentials import CredentialStore

__all__ = ["basic_credentials", "matching_secret"]


def basic_credentials(credentials: str) -> tuple[str, str]:
    """User name and password of a Basic credentials value; Unauthorized if malformed."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unauthorized("malformed basic credentials") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise Unauthorized("malformed basic credentials")
    return username, password


async def matching_secret(
    credentials: CredentialStore,
    hasher: SecretHasher,
    owner_type: str,
    owner_id: str,
    secret: str,
) -> str | None:
    """The fingerprint of the owner's unexpired stored secret matching `secret`, if any: what
    tokens obtained with it are bound to. argon2 runs in a worker thread."""
    if not secret:
        return None
    now = utcnow()
    for credential in await credentials.of(owner_type, owner_id):
        if credential.expires_at is not None and credential.expires_at <= now:
            continue
        if await anyio.to_thread.run_sync(hasher.verify, credential.hash, secret):
            return secret_fingerprint(credential.hash)
    return None
