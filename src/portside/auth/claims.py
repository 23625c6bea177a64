"""What Portside's tokens say about who holds them: the identity, and the stored secret it proved.

Tokens of identities that log in with a stored secret (`SECRET_KINDS`) carry the fingerprint of
that secret (`sec`), so that renewing, removing or expiring the secret ends them. Tokens of a
federated identity carry its issuer (`idp`; `iss` is Portside's own) and, refresh tokens, the
end of its session (`sxp`, seconds since the epoch), which no token minted from them outlives.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from portside.auth.errors import Unauthorized
from portside.auth.identity import Identity

__all__ = [
    "identity_claims",
    "identity_of",
    "refresh_claims",
    "secret_claim",
    "secret_fingerprint",
    "session_end_of",
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
    if identity.issuer:
        claims["idp"] = identity.issuer
    return claims


def refresh_claims(
    registry_id: int,
    identity: Identity,
    secret: str | None,
    session_end: datetime | None = None,
) -> dict[str, object]:
    """The claims of a refresh token naming `identity` in the registry `registry_id`, whose
    session (if limited) ends at `session_end`."""
    claims: dict[str, object] = {
        "grant_type": "refresh_token",
        "reg": registry_id,
        **identity_claims(identity),
        **secret_claim(secret),
    }
    if session_end is not None:
        claims["sxp"] = int(session_end.timestamp())
    return claims


def identity_of(claims: dict[str, object]) -> Identity:
    """The identity a verified token names; Unauthorized if the claims do not describe one
    (a federated identity without its issuer does not)."""
    kind, subject, groups = claims.get("kind"), claims.get("sub"), claims.get("groups", [])
    issuer = claims.get("idp", "")
    if (
        not isinstance(kind, str)
        or not isinstance(subject, str)
        or not isinstance(groups, list)
        or not isinstance(issuer, str)
    ):
        raise Unauthorized("token does not name an identity")
    try:
        return Identity(kind, subject, tuple(str(group) for group in groups), issuer)
    except ValueError:
        raise Unauthorized("token does not name an identity") from None


def session_end_of(claims: dict[str, object]) -> datetime | None:
    """When the session a refresh token belongs to ends (`sxp`); None if it names no end.

    Unauthorized if a federated identity's token names none: its session must end."""
    end = claims.get("sxp")
    if end is None and claims.get("kind") != "federated":
        return None
    if not isinstance(end, int) or isinstance(end, bool):
        raise Unauthorized("token does not name the end of its session")
    return datetime.fromtimestamp(end, UTC)
