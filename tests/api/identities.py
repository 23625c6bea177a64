"""Seeded identities and HTTP helpers for the access-control tests.

`seed` writes registries `contoso` and `fabrikam`, scope maps, tokens, service principals, role
assignments and argon2id hashes (cheap parameters: the server verifies any) straight into the
database, before or while an app runs; `World` holds the clear secrets. Requests name their
registry by `Host` (`contoso.localhost`), as clients do.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import anyio
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from portside.auth.identity import NULL_GUID
from portside.auth.secrets import SecretHasher
from portside.config import Settings, TrustedIssuerSettings
from portside.metadata.clock import utcnow
from portside.metadata.credentials import CredentialStore
from portside.metadata.database import Database
from portside.metadata.migrate import upgrade
from portside.metadata.principals import RoleAssignmentStore, ServicePrincipalStore
from portside.metadata.registries import RegistryStore
from portside.metadata.scope_maps import ScopeMapStore, TokenStore
from tests.registry_client import OCI_MANIFEST, digest_of, image_manifest

T = TypeVar("T")
# What TestClient answers: the Response of whichever httpx package Starlette uses.
Response = Any
Params = list[tuple[str, str | int | float | bool | None]]

HASHER = SecretHasher(time_cost=1, memory_cost=1024)
CONTOSO = "contoso.localhost"
FABRIKAM = "fabrikam.localhost"
OIDC_ISSUER = "https://idp.example/tenant-1/v2.0"
OIDC_AUDIENCE = "api://portside-tests"
RELEASE_GROUP = "release-team"

# Service principals of the deployment (ids are what clients send as user names).
SP_PULL = "5a0c0d7e-0000-4000-8000-000000000001"
SP_PUSH = "5a0c0d7e-0000-4000-8000-000000000002"
SP_DELETE = "5a0c0d7e-0000-4000-8000-000000000003"
SP_READER = "5a0c0d7e-0000-4000-8000-000000000004"
OPERATOR = "5a0c0d7e-0000-4000-8000-0000000000ff"

SCOPE_MAPS = {
    "team-rw": ("repositories/team/*/content/read", "repositories/team/*/content/write"),
    "app-ro": ("repositories/team/app/content/read",),
    "team-ro": ("repositories/team/*/content/read",),
}
# name: (scope map, enabled, {password name: expired?})
TOKENS = {
    "rw-token": ("team-rw", True, {"password1": False}),
    "ro-token": ("app-ro", True, {"password1": False}),
    "off-token": ("team-rw", False, {"password1": False}),
    "aging-token": ("team-ro", True, {"password1": True, "password2": False}),
}
# principal id: (role, repositories) in contoso
ROLES = {
    SP_PULL: ("AcrPull", "*"),
    SP_PUSH: ("AcrPush", "team/*"),
    SP_DELETE: ("AcrDelete", "team/app"),
    SP_READER: ("Reader", "*"),
    OPERATOR: ("Owner", "*"),
}


def secret_of(owner: str, name: str = "password1") -> str:
    """The clear secret `seed` stores for an owner's credential `name`."""
    return f"{owner}-{name}-s3cret"


@dataclass(frozen=True)
class World:
    """What `seed` made: registry ids, token ids, and user names with their clear secrets."""

    contoso_id: int
    fabrikam_id: int
    token_ids: dict[str, int]
    group_assignment_id: int

    @staticmethod
    def login(owner: str, name: str = "password1") -> tuple[str, str]:
        """User name and secret of a seeded identity (admins are named like their registry)."""
        if owner in ("contoso", "fabrikam"):
            return owner, secret_of(owner, "password")
        return owner, secret_of(owner, name)


async def seed_database(db: Database) -> World:
    """Create both registries and every identity of the tests."""
    registries, credentials = RegistryStore(db), CredentialStore(db)
    maps, tokens, roles = ScopeMapStore(db), TokenStore(db), RoleAssignmentStore(db)
    ids = {}
    for name in ("contoso", "fabrikam"):
        record, _ = await registries.ensure(name)
        await registries.update(name, {"admin_enabled": True})
        await credentials.put(
            "admin", str(record.id), "password", HASHER.hash(secret_of(name, "password"))
        )
        ids[name] = record.id
    contoso = ids["contoso"]
    for map_name, actions in SCOPE_MAPS.items():
        await maps.create(contoso, map_name, actions)
    token_ids = {}
    for token_name, (map_name, enabled, passwords) in TOKENS.items():
        token = await tokens.create(contoso, token_name, map_name, enabled=enabled)
        assert token is not None
        token_ids[token_name] = token.id
        for password, expired in passwords.items():
            expires = utcnow() + (timedelta(hours=-1) if expired else timedelta(days=1))
            encoded = HASHER.hash(secret_of(token_name, password))
            await credentials.put("token", str(token.id), password, encoded, expires_at=expires)
    for principal, (role, repositories) in ROLES.items():
        await ServicePrincipalStore(db).create(principal, f"sp-{role.lower()}")
        await credentials.put("sp", principal, "password1", HASHER.hash(secret_of(principal)))
        await roles.create(contoso, "sp", principal, role, repositories)
    group = await roles.create(
        contoso, "group", RELEASE_GROUP, "AcrPush", "teamx/*", issuer=OIDC_ISSUER
    )
    return World(contoso, ids["fabrikam"], token_ids, group.id)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings over a fresh, migrated SQLite database; the default registry is not open."""
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "anonymous_loopback": False}
    settings = Settings(**(values | overrides))
    upgrade(settings.resolved_database_url())
    return settings


def run_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` over the settings' database from synchronous test code (own event loop)."""

    async def main() -> T:
        db = Database(settings.resolved_database_url())
        try:
            return await work(db)
        finally:
            await db.close()

    return anyio.run(main)


def seed(settings: Settings) -> World:
    """`seed_database` from synchronous code."""
    return run_db(settings, seed_database)


# HTTP helpers ---------------------------------------------------------------------------------


def basic(username: str, password: str) -> str:
    """A Basic Authorization value."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def headers(host: str = CONTOSO, authorization: str | None = None) -> dict[str, str]:
    """Request headers addressing `host`'s registry, with credentials if given."""
    found = {"Host": host}
    if authorization is not None:
        found["Authorization"] = authorization
    return found


def get_token(
    client: TestClient,
    scopes: list[str],
    authorization: str | None = None,
    host: str = CONTOSO,
    **params: str,
) -> Response:
    """Docker's token request: GET /oauth2/token with `service` and `scope`s."""
    query: Params = [("service", host), *(("scope", s) for s in scopes)]
    query += list(params.items())
    return client.get("/oauth2/token", params=query, headers=headers(host, authorization))


def bearer_for(
    client: TestClient, scopes: list[str], authorization: str | None, host: str = CONTOSO
) -> str:
    """A Bearer Authorization value from the token endpoint (which must answer 200)."""
    response = get_token(client, scopes, authorization, host)
    assert response.status_code == 200, response.text
    return "Bearer " + str(response.json()["access_token"])


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def push_image(
    client: TestClient, authorization: str, repo: str, tag: str = "v1", host: str = CONTOSO
) -> tuple[str, bytes]:
    """Push a one-layer image (the same bytes for the same repo and tag); (digest, manifest)."""
    send = headers(host, authorization)
    config = json.dumps({"architecture": "amd64", "os": "linux", "repo": repo}).encode()
    layer = f"layer of {repo}:{tag}".encode()
    for blob in (config, layer):
        response = client.post(
            f"/v2/{repo}/blobs/uploads/",
            params={"digest": digest_of(blob)},
            content=blob,
            headers=send,
        )
        assert response.status_code == 201, response.text
    body = image_manifest(config, [layer])
    response = client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=body,
        headers={**send, "Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"], body


def operator() -> str:
    """Basic credentials of the Owner on every repository of contoso (test setup only)."""
    return basic(*World.login(OPERATOR))


# A trusted OIDC issuer for /oauth2/exchange ----------------------------------------------------


class OidcIssuer:
    """A test identity provider signing ES256 tokens, publishing its key in a JWKS file."""

    def __init__(self, issuer: str = OIDC_ISSUER, audience: str = OIDC_AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        self.key = ec.generate_private_key(ec.SECP256R1())

    def write_jwks(self, path: Path) -> Path:
        """Publish the public key as a JWKS file."""
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        path.write_text(json.dumps({"keys": [{**jwk, "kid": "idp-1", "use": "sig"}]}))
        return path

    def trusted(self, jwks_file: Path, tenant: str | None = None) -> TrustedIssuerSettings:
        """The setting that trusts this issuer (bound to `tenant`, if given)."""
        return TrustedIssuerSettings(
            issuer=self.issuer,
            audience=self.audience,
            jwks_file=self.write_jwks(jwks_file),
            tenant=tenant,
        )

    def token(self, **claims: Any) -> str:
        """A token for subject `ci-job` in group RELEASE_GROUP, valid now; claims override."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "ci-job",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "groups": [RELEASE_GROUP],
        }
        payload.update(claims)
        return jwt.encode(payload, self.key, algorithm="ES256", headers={"kid": "idp-1"})


def exchange(client: TestClient, external: str, host: str = CONTOSO) -> Response:
    """ACR's exchange of an external token for a refresh token of `host`'s registry."""
    form = {"grant_type": "access_token", "service": host, "access_token": external}
    return client.post("/oauth2/exchange", data=form, headers=headers(host))


def refresh_basic(refresh_token: str) -> str:
    """The null GUID with a refresh token, as `docker login` sends it to ACR."""
    return basic(NULL_GUID, refresh_token)
