"""Two `portside serve` nodes on one database: a revocation on one applies on the other at once.

Each node keeps the registries it resolved and the tokens it verified in its own memory
(services/access/hosts.py, auth/tokens.py). Those caches must never let a node serve what
another node revoked: node B is warmed up (its caches hold the registry and the token), node A
revokes, and B refuses within the documented bound. On SQLite (one file) the bound is "the next
request". On PostgreSQL the nodes hear of commits by LISTEN/NOTIFY (metadata/change_notices.py):
B must refuse within `PG_BOUND` seconds, polled; the delays seen are printed (`-s`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.backends.postgres import BACKENDS, postgres_cluster
from tests.e2e.clients import ServerProcess, free_port
from tests.e2e.conftest import portside_executable

ADMIN_PASSWORD = uuid.uuid4().hex
ADMIN = ("admin", ADMIN_PASSWORD)
API = "/api/v1/registries"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
PG_BOUND = 1.0
"""Seconds within which node B must see node A's commit on PostgreSQL."""


@dataclass
class Node:
    """One server process and its base URL."""

    process: ServerProcess
    url: str
    bound: float = 0.0
    """Seconds a commit elsewhere may take to be seen here (0: at the next request)."""

    def client(self, registry: str) -> httpx.Client:
        """A client that addresses `registry` by its login server name."""
        port = self.url.rpartition(":")[2]
        return httpx.Client(
            base_url=self.url, headers={"Host": f"{registry}.localhost:{port}"}, timeout=30
        )


def _start(root: Path, name: str, database_url: str | None) -> Node:
    port = free_port()
    argv = [portside_executable(), "serve", "--port", str(port), "--data-dir", str(root)]
    env = {"PORTSIDE_ADMIN_PASSWORD": ADMIN_PASSWORD, "PORTSIDE_LOCAL_LOGIN_PORTS": "0"}
    if database_url is not None:
        # One worker, so that the one listener waited for below is the one B's requests meet.
        env |= {"PORTSIDE_DATABASE_URL": database_url, "PORTSIDE_WORKERS": "1"}
    process = ServerProcess.start(name, argv, root.parent / f"{name}.log", env=env)
    url = f"http://127.0.0.1:{port}"
    process.wait_ready(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=60)
    return Node(process, url, bound=0.0 if database_url is None else PG_BOUND)


def _start_both(root: Path, database_url: str | None) -> Iterator[tuple[Node, Node]]:
    started: list[Node] = []
    try:
        started.append(_start(root, "node-a", database_url))  # migrates first; B finds head
        started.append(_start(root, "node-b", database_url))
        yield started[0], started[1]
    finally:
        for node in started:
            node.process.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def nodes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Node, Node]]:
    """Nodes A and B over one database (one SQLite file, or one PostgreSQL database) and one
    blob root."""
    root = tmp_path_factory.mktemp("two-nodes") / "data"
    if request.param == "sqlite":
        yield from _start_both(root, None)
        return
    with postgres_cluster(request.config).fresh_database() as database_url:
        for a, b in _start_both(root, database_url):
            _wait_for_listeners(a, b, database_url)
            yield a, b


def _wait_for_listeners(a: Node, b: Node, database_url: str) -> None:
    """Until both nodes LISTEN (each starts its listener at its first request): before that
    their caches are off, and the tests would not test them."""

    async def listening() -> int:
        dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
        conn = await asyncpg.connect(dsn)
        try:
            query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
            return int(await conn.fetchval(query, "portside-changes"))
        finally:
            await conn.close()

    deadline = time.monotonic() + 30
    while asyncio.run(listening()) < 2:
        assert time.monotonic() < deadline, "the nodes' change listeners never started"
        for node in (a, b):
            httpx.get(f"{node.url}/v2/", timeout=30)
        time.sleep(0.05)


def _seen(node: Node, answer: Callable[[], object], expected: object, what: str) -> None:
    """`answer()` is `expected` at once (bound 0), or within the node's bound, polled."""
    started = time.perf_counter()
    got, tries = answer(), 1
    while got != expected and time.perf_counter() - started < node.bound:
        time.sleep(0.005)
        got, tries = answer(), tries + 1
    delay = time.perf_counter() - started
    assert got == expected, f"{what}: still {got} after {delay:.3f} s"
    print(f"{what}: seen on B after {delay * 1000:.1f} ms, request {tries}")


def _push_image(
    client: httpx.Client, repository: str, auth: tuple[str, str], config: bytes = b"{}"
) -> str:
    """Push an image with `config` as tag v1; its manifest's digest."""
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    pushed = client.post(
        f"/v2/{repository}/blobs/uploads/", params={"digest": digest}, content=config, auth=auth
    )
    assert pushed.status_code == 201, pushed.text
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest},
        "layers": [],
    }
    manifest["config"]["size"] = len(config)  # type: ignore[index]
    put = client.put(
        f"/v2/{repository}/manifests/v1",
        content=json.dumps(manifest).encode(),
        headers={"Content-Type": MANIFEST_TYPE},
        auth=auth,
    )
    assert put.status_code == 201, put.text
    return str(put.headers["Docker-Content-Digest"])


def _registry(node: Node, name: str) -> None:
    with httpx.Client(base_url=node.url, auth=ADMIN, timeout=30) as admin:
        created = admin.post(API, json={"name": name})
        assert created.status_code == 201, created.text
        enabled = admin.patch(f"{API}/{name}", json={"adminUserEnabled": True})
        assert enabled.status_code == 200, enabled.text


def _admin_user(node: Node, name: str) -> tuple[str, str]:
    """The registry's admin user and a fresh password of it."""
    with httpx.Client(base_url=node.url, auth=ADMIN, timeout=30) as admin:
        shown = admin.post(f"{API}/{name}/credentials/renew", json={"name": "password"})
        assert shown.status_code == 200, shown.text
        passwords = {p["name"]: p.get("value") for p in shown.json()["passwords"]}
        return str(shown.json()["username"]), str(passwords["password"])


def _bearer(client: httpx.Client, auth: tuple[str, str], scope: str) -> dict[str, str]:
    """A Bearer header for `scope`, fetched as docker does."""
    host = client.headers["Host"]
    answer = client.get("/oauth2/token", params={"service": host, "scope": scope}, auth=auth)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def test_anonymous_pull_switched_off_on_a_is_refused_on_b(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    _registry(a, "public")
    with a.client("public") as on_a, b.client("public") as on_b:
        _push_image(on_a, "app", _admin_user(a, "public"))
        opened = httpx.patch(
            f"{a.url}{API}/public", json={"anonymousPullEnabled": True}, auth=ADMIN, timeout=30
        )
        assert opened.status_code == 200, opened.text
        for _ in range(3):  # B now holds the registry in its cache
            assert on_b.get("/v2/app/manifests/v1").status_code == 200
        closed = httpx.patch(
            f"{a.url}{API}/public", json={"anonymousPullEnabled": False}, auth=ADMIN, timeout=30
        )
        assert closed.status_code == 200, closed.text
        _seen(b, lambda: on_b.get("/v2/app/manifests/v1").status_code, 401, "anonymous off")
        assert on_b.head("/v2/app/manifests/v1").status_code == 401
        assert on_b.get("/v2/app/tags/list").status_code == 401


def _token(node: Node, registry: str, name: str, actions: list[str]) -> str:
    """Create a scope map and a token over it on `node`; the token's password."""
    with httpx.Client(base_url=node.url, auth=ADMIN, timeout=30) as admin:
        mapped = admin.post(
            f"{API}/{registry}/scope-maps", json={"name": f"{name}-map", "actions": actions}
        )
        assert mapped.status_code == 201, mapped.text
        made = admin.post(
            f"{API}/{registry}/tokens", json={"name": name, "scopeMap": f"{name}-map"}
        )
        assert made.status_code == 201, made.text
        return str(made.json()["credentials"]["passwords"][0]["value"])


def test_token_deleted_on_a_is_refused_on_b(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    _registry(a, "tokens")
    with a.client("tokens") as on_a, b.client("tokens") as on_b:
        _push_image(on_a, "app", _admin_user(a, "tokens"))
        password = _token(a, "tokens", "puller", ["repositories/app/content/read"])
        bearer = _bearer(on_b, ("puller", password), "repository:app:pull")
        for _ in range(3):  # B has verified the token and resolved the registry
            assert on_b.get("/v2/app/manifests/v1", headers=bearer).status_code == 200
        deleted = httpx.delete(f"{a.url}{API}/tokens/tokens/puller", auth=ADMIN, timeout=30)
        assert deleted.status_code == 204, deleted.text
        _seen(
            b,
            lambda: on_b.get("/v2/app/manifests/v1", headers=bearer).status_code,
            401,
            "token deleted",
        )
        assert on_b.head("/v2/app/manifests/v1", headers=bearer).status_code == 401


def test_scope_map_narrowed_on_a_is_refused_on_b(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    _registry(a, "maps")
    with a.client("maps") as on_a, b.client("maps") as on_b:
        _push_image(on_a, "app", _admin_user(a, "maps"))
        password = _token(a, "maps", "reader", ["repositories/app/content/read"])
        bearer = _bearer(on_b, ("reader", password), "repository:app:pull")
        for _ in range(3):
            assert on_b.get("/v2/app/tags/list", headers=bearer).status_code == 200
        narrowed = httpx.patch(
            f"{a.url}{API}/maps/scope-maps/reader-map",
            json={"removeActions": ["repositories/app/content/read"]},
            auth=ADMIN,
            timeout=30,
        )
        assert narrowed.status_code == 200, narrowed.text
        _seen(
            b,
            lambda: on_b.get("/v2/app/tags/list", headers=bearer).status_code,
            401,
            "scope map narrowed",
        )
        assert on_b.get("/v2/app/manifests/v1", headers=bearer).status_code == 401


def test_a_tag_moved_or_locked_on_a_is_seen_on_b(nodes: tuple[Node, Node]) -> None:
    # Manifests read by tag are remembered per node too (metadata/manifest_reads.py).
    a, b = nodes
    _registry(a, "moving")
    admin = _admin_user(a, "moving")
    with a.client("moving") as on_a, b.client("moving") as on_b:
        first = _push_image(on_a, "app", admin)
        for _ in range(3):
            got = on_b.get("/v2/app/manifests/v1", auth=admin)
            assert got.headers["Docker-Content-Digest"] == first
        second = _push_image(on_a, "app", admin, config=b'{"moved": true}')
        assert second != first
        _seen(
            b,
            lambda: on_b.get("/v2/app/manifests/v1", auth=admin).headers["Docker-Content-Digest"],
            second,
            "tag moved",
        )
        locked = on_a.patch("/acr/v1/app", json={"readEnabled": False}, auth=admin)
        assert locked.status_code == 200, locked.text
        _seen(
            b,
            lambda: on_b.get("/v2/app/manifests/v1", auth=admin).status_code,
            403,
            "repository read-locked",
        )
        assert on_b.get(f"/v2/app/manifests/{second}", auth=admin).status_code == 403
