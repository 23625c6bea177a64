"""What Portside's tokens say about who holds them: the identity, and the stored secret it proved.

Tokens of identities that log in with a stored secret (`SECRET_KINDS`) carry the fingerprint of
that secret (`sec`), so that renewing, removing or expiring the secret ends them.
"""

from __future__ import annotations

import hashlib

from portside.auth.errors import Unauthorized
from portside.auth.identity import Identity

__all__ = [
    "identity_claims",
    "identity_of",
    "refresh_claims",
    "secret_claim",
    "secret_fingerprint",
]


def secret_fingerprint(encoded: str) -> str:
    """What a token records of the stored secret (its hash) its holder proved."""
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:32]


def secret_claim(secret: str | None) -> dict[str, object]:
    """The `sec` claim binding a token to the fingerprint `secret`; none without one."""
    return {} if secret is None else {"sec": secret}


def identity_claims(identity: Identity) -> dict[str, object]:
    """What a token carries about its identity (the subject goes in `sub`)."""
    claims: dict[str, object] = {"kind": identity.kind}
    if identity.groups:
        claims["groups"] = list(identity.groups)
    return claims


def refresh_claims(registry_id: int, identity: Identity, secret: str | None) -> dict[str, object]:
    """The claims of a refresh token naming `identity` in the registry `registry_id`."""
    return {
        "grant_type": "refresh_token",
        "reg": registry_id,
        **identity_claims(identity),
        **secret_claim(secret),
    }


def identity_of(claims: dict[str, object]) -> Identity:
    """The identity a verified token names; Unauthorized if the claims do not describe one."""
    kind, subject, groups = claims.get("kind"), claims.get("sub"), claims.get("groups", [])
    if not isinstance(kind, str) or not isinstance(subject, str) or not isinstance(groups, list):
        raise Unauthorized("token does not name an identity")
    try:
        return Identity(kind, subject, tuple(str(group) for group in groups))
    except ValueError:
        raise Unauthorized("token does not name an identity") from None
