"""What a login proves: which of an owner's stored secrets a password matches.

What tokens say about a login lives in `auth.claims`; Basic credentials are read in
`api.credentials`."""

from __future__ import annotations

from portside.auth.claims import secret_fingerprint
from portside.auth.secrets import SecretHasher
from portside.metadata.clock import utcnow
from portside.metadata.credentials import CredentialStore

__all__ = ["matching_secret"]


async def matching_secret(
    credentials: CredentialStore,
    hasher: SecretHasher,
    owner_type: str,
    owner_id: str,
    secret: str,
) -> str | None:
    """The fingerprint of the owner's unexpired stored secret matching `secret`, if any: what
    tokens obtained with it are bound to. argon2 runs in a worker thread of its own limiter."""
    if not secret:
        return None
    now = utcnow()
    for credential in await credentials.of(owner_type, owner_id):
        if credential.expires_at is not None and credential.expires_at <= now:
            continue
        if await hasher.verify_in_thread(credential.hash, secret):
            return secret_fingerprint(credential.hash)
    return None
