"""A lost PostgreSQL primary, with real processes: `portside serve` nodes over a primary of
their own (the session's shared server is never stopped) and, in eastus, a streaming hot
standby of it made with `pg_basebackup -R`.

Without a replica a lost database answers 503 `UNAVAILABLE` with Retry-After (never a 500),
and everything works again once the database is back. With a replica, eastus goes on serving
pulls (by tag and by digest) while pushes answer 503."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy.exc

from portside.metadata.database import Database
from portside.metadata.errors import DatabaseUnavailable
from tests.backends.postgres import PostgresCluster
from tests.e2e.clients import ServerProcess, free_port
from tests.e2e.conftest import portside_executable
from tests.registry_client import OCI_MANIFEST, digest_of, push_image

ADMIN = "georep-admin-Pq73"


@pytest.fixture
def primary() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.start()
    try:
        cluster.execute("CREATE DATABASE portside")
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.anyio
async def test_a_refused_connection_is_a_lost_database() -> None:
    db = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/portside")
    try:
        for transaction in (db.read, db.write):
            with pytest.raises(DatabaseUnavailable):
                async with transaction() as conn:
                    await conn.exec_driver_sql("SELECT 1")
    finally:
        await db.close()


@pytest.mark.anyio
async def test_a_bad_statement_is_not_a_lost_database(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        with pytest.raises(sqlalchemy.exc.OperationalError):
            async with db.write() as conn:
                await conn.exec_driver_sql("SELECT * FROM no_such_table")
    finally:
        await db.close()


def test_a_replica_needs_postgresql(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", read_url="sqlite:///x.db")


def _toml(values: dict[str, Any]) -> str:
    lines = ["[portside]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in values.items() if k != "locations"]
    for name, storage in values.get("locations", {}).items():
        lines.append(f"[portside.locations.{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in storage.items()]
    return "\n".join(lines) + "\n"


def _serve(workdir: Path, name: str, settings: dict[str, Any]) -> tuple[ServerProcess, str]:
    port = free_port()
    config = workdir / f"{name}.toml"
    config.write_text(_toml({"admin_password": ADMIN, "gc_interval_seconds": 0, **settings}))
    argv = [portside_executable(), "serve", "--config", str(config), "--port", str(port)]
    argv += ["--host", "127.0.0.1", "--data-dir", str(workdir / name), "--workers", "1"]
    process = ServerProcess.start(name, argv, workdir / f"{name}.log", cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    ready = lambda: httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200  # noqa: E731
    process.wait_ready(ready, timeout=90.0)
    return process, url


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"].isdigit()
    errors = response.json().get("errors") or [response.json()["error"]]
    assert errors[0]["code"] in ("UNAVAILABLE", "ServiceUnavailable")


def _assert_no_unhandled(process: ServerProcess) -> None:
    # A lost database is an outage, said in one line: no 500 with a traceback, and the
    # replication worker pauses (other rooms' jobs still log theirs: docs/geo-replication.md).
    log = process.log_path.read_text()
    assert "unhandled error" not in log, process.log_tail(80)
    assert "replication failed" not in log, process.log_tail(80)


def test_a_lost_database_answers_503_until_it_is_back(
    primary: PostgresCluster, tmp_path: Path
) -> None:
    node, url = _serve(tmp_path, "node", {"database_url": primary.url("portside")})
    try:
        with httpx.Client(base_url=url, timeout=60.0) as http:
            digest, body = push_image(http, "app", "v1")
            primary.halt()
            # Pulls, pushes and the management API: a clear 503, not a 500.
            _assert_unavailable(http.get("/v2/app/manifests/v1", headers={"Accept": OCI_MANIFEST}))
            _assert_unavailable(http.get(f"/v2/app/manifests/{digest}"))
            _assert_unavailable(http.post("/v2/app/blobs/uploads/"))
            _assert_unavailable(
                http.put(
                    "/v2/app/manifests/v2", content=body, headers={"Content-Type": OCI_MANIFEST}
                )
            )
            _assert_unavailable(http.get("/api/v1/registries", auth=("admin", ADMIN)))
            primary.resume()
            # The pool's dead connections are replaced on their next checkout.
            got = http.get("/v2/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
            assert got.status_code == 200 and got.content == body
            push_image(http, "app", "v2")
    finally:
        node.stop()
    _assert_no_unhandled(node)


def _lsn(port: int, query: str) -> int:
    async def run() -> int:
        conn = await asyncpg.connect(
            host="127.0.0.1", port=port, user="postgres", database="postgres"
        )
        try:
            return int(await conn.fetchval(query))
        finally:
            await conn.close()

    return asyncio.run(run())


def test_a_location_with_a_replica_keeps_serving_pulls(
    primary: PostgresCluster, tmp_path: Path
) -> None:
    west_store = {"storage_driver": "filesystem", "storage_path": str(tmp_path / "west-blobs")}
    east_store = {"storage_driver": "filesystem", "storage_path": str(tmp_path / "east-blobs")}
    common = {
        "database_url": primary.url("portside"),
        "replication_poll_seconds": 0.5,
        "locations": {"westeurope": west_store, "eastus": east_store},
    }
    standby = primary.standby()
    processes: list[ServerProcess] = []
    try:
        west, west_url = _serve(
            tmp_path, "westeurope", {**common, **west_store, "location": "westeurope"}
        )
        processes.append(west)
        east, east_url = _serve(
            tmp_path,
            "eastus",
            {
                **common,
                **east_store,
                "location": "eastus",
                "database_read_url": standby.url("portside"),
            },
        )
        processes.append(east)
        with (
            httpx.Client(base_url=west_url, timeout=60.0) as a,
            httpx.Client(base_url=east_url, timeout=60.0) as b,
        ):
            layer = bytes(range(256)) * 4096  # 1 MiB
            digest, body = push_image(a, "app", "v1", layers=[layer])
            # By digest, eastus may answer from its replica at once (a miss asks the primary).
            assert b.get(f"/v2/app/manifests/{digest}").content == body
            # Wait until the standby has replayed everything the primary wrote.
            target = _lsn(primary.port, "SELECT pg_current_wal_lsn() - '0/0'")
            deadline = time.monotonic() + 60
            while _lsn(standby.port, "SELECT pg_last_wal_replay_lsn() - '0/0'") < target:
                assert time.monotonic() < deadline, "the standby did not catch up"
                time.sleep(0.1)

            primary.halt()
            by_tag = b.get("/v2/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
            assert by_tag.status_code == 200, by_tag.text
            assert by_tag.content == body and by_tag.headers["Docker-Content-Digest"] == digest
            by_digest = b.get(f"/v2/app/manifests/{digest}", headers={"Accept": OCI_MANIFEST})
            assert by_digest.status_code == 200 and by_digest.content == body
            pulled = b.get(f"/v2/app/blobs/{digest_of(layer)}")
            assert pulled.status_code == 200 and pulled.content == layer
            assert b.head(f"/v2/app/blobs/{digest_of(layer)}").status_code == 200
            # Writes need the primary: 503 until an operator promotes the replica.
            _assert_unavailable(b.post("/v2/app/blobs/uploads/"))
            _assert_unavailable(
                b.put("/v2/app/manifests/v2", content=body, headers={"Content-Type": OCI_MANIFEST})
            )
            # westeurope has no replica: its pulls answer 503 as well.
            _assert_unavailable(a.get("/v2/app/manifests/v1", headers={"Accept": OCI_MANIFEST}))

        # The runbook's promotion (docs/geo-replication.md): promote the standby, point the
        # node's database_url at it, restart; `serve` migrates (a no-op) and pushes work again.
        assert _lsn(standby.port, "SELECT pg_promote()::int") == 1
        assert _lsn(standby.port, "SELECT pg_is_in_recovery()::int") == 0
        east.stop()
        promoted = {**common, **east_store, "location": "eastus"}
        promoted["database_url"] = standby.url("portside")
        east, east_url = _serve(tmp_path, "eastus", promoted)
        processes.append(east)
        with httpx.Client(base_url=east_url, timeout=60.0) as b:
            moved, _ = push_image(b, "app", "v1", layers=[b"pushed after the promotion"])
            got = b.get("/v2/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
            assert got.status_code == 200 and got.headers["Docker-Content-Digest"] == moved
            assert b.get(f"/v2/app/manifests/{digest}").content == body
    finally:
        for process in processes:
            process.stop()
        standby.stop()
    for process in processes:
        _assert_no_unhandled(process)
