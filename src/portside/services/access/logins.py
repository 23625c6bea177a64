"""What a login proves and what tokens say about it: identities in claims, the fingerprint of
the secret a login proved, and Basic credentials."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

import anyio

from portside.auth.errors import Unauthorized
from portside.auth.identity import Identity
from portside.auth.secrets import SecretHasher
from portside.metadata.clock import utcnow
from portside.metadata.credentials import CredentialStore

__all__ = [
    "SECRET_KINDS",
    "Login",
    "basic_credentials",
    "identity_claims",
    "identity_of",
    "matching_secret",
    "secret_fingerprint",
]

SECRET_KINDS = frozenset({"admin", "token", "sp"})
"""Identity kinds that log in with a stored secret; their tokens are bound to that secret."""


@dataclass(frozen=True, slots=True)
class Login:
    """An authenticated identity and the fingerprint of the stored secret it proved.

    `secret` is None for identities without one (anonymous, federated, deployment).
    """

    identity: Identity
    secret: str | None = None


def secret_fingerprint(encoded: str) -> str:
    """What a token records of the stored secret (its hash) its holder proved."""
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:32]


def identity_claims(identity: Identity) -> dict[str, object]:
    """What a token carries about its identity (the subject goes in `sub`)."""
    claims: dict[str, object] = {"kind": identity.kind}
    if identity.groups:
        claims["groups"] = list(identity.groups)
    return claims


def identity_of(claims: dict[str, object]) -> Identity:
    """The identity a verified token names; Unauthorized if the claims do not describe one."""
    kind, subject, groups = claims.get("kind"), claims.get("sub"), claims.get("groups", [])
    if not isinstance(kind, str) or not isinstance(subject, str) or not isinstance(groups, list):
        raise Unauthorized("token does not name an identity")
    try:
        return Identity(kind, subject, tuple(str(group) for group in groups))
    except ValueError:
        raise Unauthorized("token does not name an identity") from None


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
