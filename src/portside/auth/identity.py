"""Who a caller is, once their credentials have been checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["ANONYMOUS", "KINDS", "NULL_GUID", "SECRET_KINDS", "Identity", "Login"]

# `docker login -u 00000000-0000-0000-0000-000000000000 -p <refresh token>`, as with ACR.
NULL_GUID = "00000000-0000-0000-0000-000000000000"

# anonymous: no credentials; admin: the registry's admin user; token: a repository-scoped
# token; sp: a service principal; federated: a subject (and groups) of a trusted OIDC issuer;
# deployment: the deployment administrator (every registry, every action).
KINDS = frozenset({"anonymous", "admin", "token", "sp", "federated", "deployment"})

SECRET_KINDS = frozenset({"admin", "token", "sp", "deployment"})
"""Identity kinds that log in with a secret; their tokens are bound to that secret."""


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller of one registry.

    A federated identity names the trusted issuer (`iss`) its subject and groups belong to:
    names are only unique per issuer, so every federated identity has one and no other has.
    """

    kind: str
    subject: str
    groups: tuple[str, ...] = ()
    issuer: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown identity kind {self.kind!r}")
        if (self.kind == "federated") != bool(self.issuer):
            raise ValueError("federated identities, and they only, name their issuer")

    def __str__(self) -> str:
        return f"{self.kind}:{self.subject}"


ANONYMOUS = Identity("anonymous", "")


@dataclass(frozen=True, slots=True)
class Login:
    """An authenticated identity and the fingerprint of the stored secret it proved.

    `secret` is None for identities without one (anonymous, federated, deployment).
    `session_end`, for a federated identity, is when its session ends: no token minted for
    it may outlive that, however often it is renewed.
    """

    identity: Identity
    secret: str | None = None
    session_end: datetime | None = None
