"""Two locations on one machine, as real processes: `portside serve` in westeurope (filesystem
storage) and in eastus (a SeaweedFS bucket), over one PostgreSQL database. Clients pick a
location by its address, as a global load balancer would pick it for them."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.config import Config
from botocore.session import get_session

from tests.backends.postgres import postgres_cluster
from tests.backends.seaweedfs import ACCESS_KEY, REGION, SECRET_KEY, SeaweedFS
from tests.e2e.clients import Cli, ServerProcess, free_port
from tests.e2e.conftest import portside_executable
from tests.registry_client import OCI_MANIFEST, digest_of, push_image

ADMIN = "georep-admin-Zk41"
BUCKET = "portside-eastus"


@dataclass
class Node:
    """A running node of one location, its HTTP client and the CLI pointed at it."""

    location: str
    url: str
    process: ServerProcess
    http: httpx.Client
    cli: Cli
    config: Path

    def status(self, image: str | None = None, wait: float = 0) -> dict[str, Any]:
        """`portside replication status` by location."""
        args = ["replication", "status", "-r", "default", "-o", "json"]
        args += [*(["--image", image] if image else []), "--wait", str(wait)]
        result = self.cli(*args, check=False)
        assert "Traceback" not in result.stderr, result.stderr
        return {one["location"]: one for one in json.loads(result.stdout)}


@dataclass
class Deployment:
    """Both locations, the eastus bucket and the westeurope folder."""

    west: Node
    east: Node
    west_storage: Path
    s3: Any
    prefix: str

    def west_holds(self, digest: str) -> bool:
        """Whether westeurope's folder has the blob."""
        algorithm, hex_ = digest.split(":")
        return (self.west_storage / "blobs" / algorithm / hex_[:2] / hex_).is_file()

    def east_holds(self, digest: str) -> bool:
        """Whether eastus's bucket has the blob."""
        algorithm, hex_ = digest.split(":")
        key = f"{self.prefix}/blobs/{algorithm}/{hex_[:2]}/{hex_}"
        try:
            self.s3.head_object(Bucket=BUCKET, Key=key)
        except self.s3.exceptions.ClientError:
            return False
        return True


def _toml(values: dict[str, Any]) -> str:
    """`[portside]` with `values`, and a `[portside.locations.NAME]` section per location."""
    lines = ["[portside]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in values.items() if k != "locations"]
    for name, storage in values.get("locations", {}).items():
        lines.append(f"[portside.locations.{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in storage.items()]
    return "\n".join(lines) + "\n"


def _start(workdir: Path, location: str, settings: dict[str, Any]) -> Node:
    port = free_port()
    config = workdir / f"{location}.toml"
    config.write_text(_toml(settings))
    argv = [portside_executable(), "serve", "--config", str(config), "--port", str(port)]
    argv += ["--host", "127.0.0.1", "--data-dir", str(workdir / location), "--workers", "1"]
    process = ServerProcess.start(location, argv, workdir / f"{location}.log", cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    ready = lambda: httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200  # noqa: E731
    process.wait_ready(ready, timeout=90.0)
    cli = Cli(
        (portside_executable(),),
        env={"PORTSIDE_SERVER": url, "PORTSIDE_ADMIN_PASSWORD": ADMIN, "PORTSIDE_USERNAME": ""},
        cwd=workdir,
        timeout=120.0,
    )
    return Node(location, url, process, httpx.Client(base_url=url, timeout=60.0), cli, config)


@pytest.fixture(scope="module")
def deployment(
    request: pytest.FixtureRequest, seaweedfs: SeaweedFS, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("georep")
    seaweedfs.create_bucket(BUCKET)
    prefix = f"georep-{uuid.uuid4().hex[:8]}"
    west_storage = workdir / "westeurope-blobs"
    west_store = {"storage_driver": "filesystem", "storage_path": str(west_storage)}
    east_store = {
        "storage_driver": "s3",
        "s3_bucket": BUCKET,
        "s3_endpoint_url": seaweedfs.endpoint_url,
        "s3_access_key_id": ACCESS_KEY,
        "s3_secret_access_key": SECRET_KEY,
        "s3_prefix": prefix,
    }
    s3 = get_session().create_client(
        "s3",
        region_name=REGION,
        endpoint_url=seaweedfs.endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )
    with postgres_cluster(request.config).fresh_database() as database_url:
        common = {
            "database_url": database_url,
            "admin_password": ADMIN,
            "s3_addressing_style": "path",
            "replication_poll_seconds": 0.5,
            "gc_interval_seconds": 0,
            "locations": {"westeurope": west_store, "eastus": east_store},
        }
        west = _start(workdir, "westeurope", {**common, **west_store, "location": "westeurope"})
        east = _start(workdir, "eastus", {**common, **east_store, "location": "eastus"})
        try:
            for location in ("westeurope", "eastus"):
                west.cli("replication", "create", "-r", "default", "--location", location)
            yield Deployment(west, east, west_storage, s3, prefix)
        finally:
            for node in (west, east):
                node.http.close()
                node.process.stop()
            s3.close()
        for node in (west, east):
            log = node.process.log_path.read_text()
            assert "Traceback" not in log, node.process.log_tail(80)


def _wait(check: Any, timeout: float = 60.0) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_push_in_one_location_is_pulled_at_once_in_the_other(deployment: Deployment) -> None:
    d = deployment
    layer = bytes(range(256)) * 16384  # 4 MiB
    digest, body = push_image(d.west.http, "app", "v1", layers=[layer])
    # Pulled in B at once (the worker may or may not have copied it yet: both must answer).
    got = d.east.http.get("/v2/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert got.status_code == 200 and got.content == body
    pulled = d.east.http.get(f"/v2/app/blobs/{digest_of(layer)}")
    assert pulled.status_code == 200 and pulled.content == layer
    status = d.east.status(f"app@{digest}", wait=60)
    assert all(one["complete"] and one["pendingBytes"] == 0 for one in status.values())
    assert d.east_holds(digest_of(layer)) and d.west_holds(digest_of(layer))

    # A tag moved in A is seen in B at once; the tag lists never differ.
    moved, _ = push_image(d.west.http, "app", "v1", layers=[b"moved tag"])
    again = d.east.http.get("/v2/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert again.headers["Docker-Content-Digest"] == moved
    assert (
        d.east.http.get("/v2/app/tags/list").json() == d.west.http.get("/v2/app/tags/list").json()
    )
    listed = json.loads(d.east.cli("replication", "list", "-r", "default", "-o", "json").stdout)
    assert sorted(one["location"] for one in listed) == ["eastus", "westeurope"]


def test_the_worker_completes_an_image_without_any_pull(deployment: Deployment) -> None:
    d = deployment
    layer = b"never pulled" * 100_000
    push_image(d.west.http, "quiet", "v1", layers=[layer])
    _wait(lambda: d.east_holds(digest_of(layer)))
    assert d.east.status("quiet:v1")["eastus"]["complete"]


def test_a_location_whose_storage_fails(deployment: Deployment) -> None:
    d = deployment
    layer = b"replicated before the outage" * 10_000
    push_image(d.west.http, "outage", "v1", layers=[layer])
    d.east.status("outage:v1", wait=60)
    assert d.east.http.get("/readyz").json()["locations"] == {"westeurope": "ok"}

    away = d.west_storage.with_name("westeurope-away")
    d.west_storage.rename(away)
    d.west_storage.write_text("a broken mount")
    try:
        ready_east = d.east.http.get("/readyz")
        assert ready_east.status_code == 200
        assert ready_east.json()["locations"] == {"westeurope": "unreachable"}
        assert d.west.http.get("/readyz").status_code == 503
        pulled = d.east.http.get(f"/v2/outage/blobs/{digest_of(layer)}")
        assert pulled.status_code == 200 and pulled.content == layer
        # Pushes keep working in eastus; westeurope's copy waits.
        during = b"pushed during the outage" * 10_000
        push_image(d.east.http, "outage", "v2", layers=[during])
        status = d.east.status("outage:v2")
        assert status["westeurope"]["storage"] == "unreachable"
        assert not status["westeurope"]["complete"] and status["eastus"]["complete"]
        assert status["westeurope"]["pendingBytes"] >= len(during)
    finally:
        d.west_storage.unlink()
        away.rename(d.west_storage)
    # Back: the backlog drains by itself (westeurope's worker retries with backoff).
    _wait(lambda: d.west_holds(digest_of(during)), timeout=90)
    assert d.west.status("outage:v2", wait=30)["westeurope"]["complete"]


def test_deletes_and_collection_reach_both_locations(deployment: Deployment) -> None:
    d = deployment
    layer = b"soon collected" * 10_000
    digest, _ = push_image(d.west.http, "gone", "v1", layers=[layer])
    d.east.status("gone:v1", wait=60)
    assert d.west_holds(digest_of(layer)) and d.east_holds(digest_of(layer))
    assert d.west.http.delete(f"/v2/gone/manifests/{digest}").status_code == 202
    assert d.east.http.get("/v2/gone/manifests/v1").status_code == 404
    d.east.cli("gc", "--config", str(d.east.config), "--grace-minutes", "0.001")
    assert not d.west_holds(digest_of(layer)) and not d.east_holds(digest_of(layer))


def test_figures_push_to_complete_and_first_pull(deployment: Deployment) -> None:
    """The note's figures, in one run: from an acknowledged push in westeurope to "complete"
    in eastus, and a first pull in eastus while it is not complete against one after.
    PORTSIDE_GEOREP_MIB sets the layer size (100 for the note; 8 by default, to stay cheap)."""
    d = deployment
    size = int(os.environ.get("PORTSIDE_GEOREP_MIB", "8")) << 20
    auth = ("admin", ADMIN)

    def complete(image: str) -> bool:
        answer = d.east.http.get(
            "/api/v1/registries/default/replications/status", params={"image": image}, auth=auth
        )
        return bool(
            answer.json()["locations"]
            and all(one["complete"] for one in answer.json()["locations"])
        )

    push_image(d.west.http, "figures", "quiet", layers=[os.urandom(size)])  # acknowledged here
    to_complete = _wait(lambda: complete("figures:quiet"), timeout=600)

    layer = os.urandom(size)
    push_image(d.west.http, "figures", "pulled", layers=[layer])
    first = _timed_pull(d.east.http, "figures", digest_of(layer), layer)
    _wait(lambda: complete("figures:pulled"), timeout=600)
    after = _timed_pull(d.east.http, "figures", digest_of(layer), layer)
    mib = size / (1 << 20)
    print(
        f"\n{mib:.0f} MiB layer: acknowledged push in westeurope to complete in eastus "
        f"{to_complete:.2f} s; first pull in eastus {mib / first:.1f} MiB/s ({first:.2f} s), "
        f"after replication {mib / after:.1f} MiB/s ({after:.2f} s)"
    )


def _timed_pull(http: httpx.Client, repository: str, digest: str, expected: bytes) -> float:
    started = time.monotonic()
    answer = http.get(f"/v2/{repository}/blobs/{digest}")
    took = time.monotonic() - started
    assert answer.status_code == 200 and answer.content == expected
    return took
