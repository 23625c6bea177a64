"""What a login proves: which of an owner's stored secrets a password matches.

What tokens say about a login lives in `auth.claims`; Basic credentials are read in
`api.credentials`."""

from __future__ import annotations

from portside.auth.claims import secret_fingerprint
from portside.auth.secrets import SecretHasher
from portside.metadata.clock import utcnow
from portside.metadata.credentials import CredentialStore
from portside.metadata.records import CredentialRecord

__all__ = ["current_secrets", "matching_secret"]


async def current_secrets(
    credentials: CredentialStore, owner_type: str, owner_id: str
) -> list[CredentialRecord]:
    """The owner's stored secrets that have not expired: the ones a login may prove and a
    token may stay bound to (one definition for both, so that they agree)."""
    now = utcnow()
    return [
        credential
        for credential in await credentials.of(owner_type, owner_id)
        if credential.expires_at is None or credential.expires_at > now
    ]


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
    for credential in await current_secrets(credentials, owner_type, owner_id):
        if await hasher.verify_in_thread(credential.hash, secret):
            return secret_fingerprint(credential.hash)
    return None
