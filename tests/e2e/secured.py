"""A Portside server that requires credentials, and identities seeded straight into its database.

The server listens on 127.0.0.1 like the others but with `anonymous_loopback` off, so every
client must log in. Identities are written through the metadata stores from the test process
(SQLite in WAL mode is shared safely between the two processes); secrets are hashed with cheap
argon2id parameters, which the server verifies as it would any other.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx

from portside.auth.secrets import SecretHasher
from portside.metadata.credentials import CredentialStore
from portside.metadata.database import Database
from portside.metadata.principals import RoleAssignmentStore, ServicePrincipalStore
from portside.metadata.registries import RegistryStore
from portside.metadata.scope_maps import ScopeMapStore, TokenStore

from .clients import Registry, ServerProcess, free_port

HASHER = SecretHasher(time_cost=1, memory_cost=1024)
SP_ID = "7d3c1f7e-5b1a-4c1e-9a55-2f0c8a9e6b01"


@dataclass(frozen=True)
class Identities:
    """Clear credentials of the seeded identities of the default registry."""

    admin: tuple[str, str]
    token: tuple[str, str]
    pull_token: tuple[str, str]
    principal: tuple[str, str]


async def _seed(database_url: str) -> Identities:
    db = Database(database_url)
    try:
        registries = RegistryStore(db)
        registry, _ = await registries.ensure("default")
        await registries.update("default", {"admin_enabled": True})
        credentials = CredentialStore(db)
        await credentials.put(
            "admin",
            str(registry.id),
            "password",
            HASHER.hash("admin-secret-1"),
            registry_id=registry.id,
        )
        maps = ScopeMapStore(db)
        await maps.create(
            registry.id,
            "e2e-push",
            ["repositories/e2e/*/content/read", "repositories/e2e/*/content/write"],
        )
        await maps.create(registry.id, "e2e-pull", ["repositories/e2e/*/content/read"])
        tokens = TokenStore(db)
        pusher = await tokens.create(registry.id, "ci-pusher", "e2e-push")
        puller = await tokens.create(registry.id, "ci-puller", "e2e-pull")
        assert pusher is not None and puller is not None
        await credentials.put(
            "token",
            str(pusher.id),
            "password1",
            HASHER.hash("token-secret-1"),
            registry_id=registry.id,
        )
        await credentials.put(
            "token",
            str(puller.id),
            "password1",
            HASHER.hash("token-secret-2"),
            registry_id=registry.id,
        )
        await ServicePrincipalStore(db).create(SP_ID, "e2e-pipeline")
        await credentials.put("sp", SP_ID, "secret1", HASHER.hash("sp-secret-1"))
        await RoleAssignmentStore(db).create(registry.id, "sp", SP_ID, "AcrPush", "e2e/*")
    finally:
        await db.close()
    return Identities(
        admin=("default", "admin-secret-1"),
        token=("ci-pusher", "token-secret-1"),
        pull_token=("ci-puller", "token-secret-2"),
        principal=(SP_ID, "sp-secret-1"),
    )


def start_secured(portside: str, workdir: Path) -> tuple[ServerProcess, Registry, Identities]:
    """Start a credentials-only Portside in `workdir` and seed its identities."""
    port = free_port()
    data_dir = workdir / "data"
    data_dir.mkdir()
    log_path = workdir / "registry.log"
    argv = [portside, "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--data-dir", str(data_dir), "--workers", "2"]
    env = {"PORTSIDE_ACCESS_LOG": "true", "PORTSIDE_ANONYMOUS_LOOPBACK": "false"}
    server = ServerProcess.start("secured portside", argv, log_path, cwd=workdir, env=env)
    host = f"127.0.0.1:{port}"
    registry = Registry("portside", host, f"http://{host}", data_dir, log_path)
    server.wait_ready(lambda: httpx.get(f"{registry.url}/v2/", timeout=2.0).status_code == 401)
    url = f"sqlite+aiosqlite:///{(data_dir / 'portside.db').resolve()}"
    identities = anyio.run(_seed, url)
    return server, registry, identities


def refresh_token(registry: Registry, username: str, password: str) -> str:
    """A refresh token from the registry's token endpoint (what `portside login` stores)."""
    basic = base64.b64encode(f"{username}:{password}".encode()).decode()
    response = httpx.get(
        f"{registry.url}/oauth2/token",
        params={"service": registry.host, "offline_token": "true", "client_id": "e2e"},
        headers={"Authorization": f"Basic {basic}"},
    )
    response.raise_for_status()
    token = response.json()["refresh_token"]
    assert isinstance(token, str)
    return token
