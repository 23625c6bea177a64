"""The management API in this process, for the API and CLI tests.

The FastAPI app is mounted at `/api/v1` on a small Starlette app, as the server mounts it,
over a migrated SQLite database, with its parts from the composition root (`Runtime`) as the
server's are; argon2 runs with a cheap profile to keep tests fast. Async
setup code runs on the app's own event loop through `Harness.run` (aiosqlite connections
belong to the loop that opened them).
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from portside.api.management.app import management_app_for
from portside.auth.secrets import SecretHasher
from portside.auth.throttle import LoginThrottle
from portside.config import Settings
from portside.metadata.database import Database
from portside.runtime import Runtime
from portside.services.access.signing import KeyRing
from portside.services.management.service import ManagementService

__all__ = ["API", "Harness", "PortalTransport", "basic", "management_harness"]

API = "/api/v1"
T = TypeVar("T")


def basic(username: str, password: str) -> dict[str, str]:
    """An Authorization header with Basic credentials."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class Harness:
    """A running management app: its test client, service, and administrator password."""

    client: TestClient
    runtime: Runtime
    app: Starlette
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def service(self) -> ManagementService:
        """The management service the app calls."""
        return self.runtime.management

    @property
    def keys(self) -> KeyRing:
        """The deployment's signing keys."""
        return self.runtime.keys

    @property
    def db(self) -> Database:
        """The metadata database."""
        return self.runtime.database

    @property
    def admin_password(self) -> str:
        """The generated administrator password (printed once by a real server)."""
        password = self.state["admin_password"]
        assert isinstance(password, str)
        return password

    @property
    def admin(self) -> dict[str, str]:
        """Authorization header of the deployment administrator."""
        return basic("admin", self.admin_password)

    def run(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run an async function on the app's event loop."""
        return self.client.portal.call(function, *args)

    def add_repository(self, registry: str, repository: str) -> None:
        """Create a repository (by linking a blob to it)."""

        async def add() -> None:
            record = await self.service.registries.show(registry)
            blobs = self.runtime.stores.blobs
            await blobs.add(record.record.id, repository, "sha256:" + "1" * 64, 1)

        self.run(add)

    def create_principal(self, name: str = "ci") -> tuple[str, str]:
        """A new service principal: (id, secret)."""
        created = self.client.post(
            f"{API}/service-principals", headers=self.admin, json={"name": name}
        )
        assert created.status_code == 201, created.text
        body = created.json()
        return body["id"], body["secrets"][0]["value"]

    def assign(self, registry: str, role: str, principal: str, repositories: str = "*") -> int:
        """Give a service principal a role; the assignment id."""
        created = self.client.post(
            f"{API}/registries/{registry}/role-assignments",
            headers=self.admin,
            json={"role": role, "assignee": principal, "repositories": repositories},
        )
        assert created.status_code == 201, created.text
        assignment_id = created.json()["id"]
        assert isinstance(assignment_id, int)
        return assignment_id

    def transport(self) -> PortalTransport:
        """A synchronous httpx transport into the app (for the CLI's httpx.Client)."""
        return PortalTransport(self)


class PortalTransport(httpx.BaseTransport):
    """Hands each request of a sync httpx.Client to the ASGI app on the harness's loop."""

    def __init__(self, harness: Harness) -> None:
        self._harness = harness
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` through httpx's ASGI transport, inside the app's event loop."""
        self.requests.append(request)
        inner = httpx.ASGITransport(app=self._harness.app)

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            response = await inner.handle_async_request(request)
            return response.status_code, response.headers.raw, await response.aread()

        status, headers, content = self._harness.run(call)
        return httpx.Response(status, headers=headers, content=content, request=request)


@contextlib.contextmanager
def management_harness(
    settings: Settings, *, throttle: LoginThrottle | None = None
) -> Iterator[Harness]:
    """Start the management app over `settings`' database (already migrated)."""
    # Refresh tokens of an hour: what the tests of their lifetime expect.
    runtime = Runtime(
        settings.model_copy(update={"refresh_token_seconds": 3600}),
        hasher=SecretHasher(time_cost=1, memory_cost=1024),
        throttle=throttle if throttle is not None else LoginThrottle(),
    )
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with runtime:
            state["admin_password"] = await runtime.prepare()
            yield

    management = management_app_for(runtime)
    app = Starlette(routes=[Mount(API, app=management)], lifespan=lifespan)
    with TestClient(app, base_url="http://127.0.0.1:5000") as client:
        yield Harness(client, runtime, app, state)
