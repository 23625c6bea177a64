"""Throttling on two `portside serve` nodes over one PostgreSQL database: a registry's request
rate limit and the login lockout are counted for the cluster, not per node; what real clients
do with a 429: skopeo and the Azure SDK's retry policy wait as `Retry-After` says and go on,
docker stops and reports `toomanyrequests`.

The nodes keep blobs in their own data directories: what is counted lives in the database, and
these tests read nothing one node stored through the other (tests/e2e/test_cluster.py shares
storage). The nodes are addressed directly, in turns, as a round-robin balancer would.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from azure.core.pipeline import Pipeline
from azure.core.pipeline.policies import RetryPolicy
from azure.core.pipeline.transport import HttpRequest, RequestsTransport

from tests.backends.postgres import postgres_cluster
from tests.e2e.clients import (
    Cli,
    Registry,
    ServerProcess,
    free_port,
    remove_tree,
    require_tool,
)
from tests.e2e.conftest import containers_env, portside_executable, short_tmpdir
from tests.e2e.images import write_docker_archive

pytestmark = pytest.mark.e2e

PASSWORD = uuid.uuid4().hex
ADMIN = ("admin", PASSWORD)
# The nodes count in 15 s windows instead of ACR's minute (`request_rate_window_seconds`):
# what is tested is the same, and a client waiting for the next window waits seconds, not a
# minute.
WINDOW = 15


@dataclass
class Node:
    """One server process and its address."""

    process: ServerProcess
    port: int

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.port}"

    def host(self, registry: str) -> str:
        """The login server of `registry` on this node (its Host header)."""
        return f"{registry}.localhost:{self.port}"


def _start(root: Path, index: int, database_url: str) -> Node:
    port = free_port()
    workdir = root / f"node{index}"
    workdir.mkdir()
    argv = [portside_executable(), "serve", "--port", str(port), "--data-dir", str(workdir)]
    env = {
        "PORTSIDE_DATABASE_URL": database_url,
        "PORTSIDE_ADMIN_PASSWORD": PASSWORD,
        # Two servers on one machine: no loopback login servers, whose ports would collide.
        "PORTSIDE_LOCAL_LOGIN_PORTS": "0",
        "PORTSIDE_REQUEST_RATE_WINDOW_SECONDS": str(WINDOW),
    }
    process = ServerProcess.start(f"node{index}", argv, workdir / "portside.log", env=env)
    process.wait_ready(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200)
    return Node(process, port)


@pytest.fixture(scope="module")
def nodes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Node]]:
    """Two nodes over one fresh PostgreSQL database."""
    root = tmp_path_factory.mktemp("throttling")
    with postgres_cluster(request.config).fresh_database() as database_url:
        started: list[Node] = []
        try:
            for index in range(2):
                started.append(_start(root, index, database_url))
            yield started
        finally:
            for node in started:
                node.process.stop()


def _create(node: Node, name: str, **fields: object) -> None:
    created = httpx.post(f"{node.url}/api/v1/registries", auth=ADMIN, json={"name": name})
    assert created.status_code == 201, created.text
    if fields:
        changed = httpx.patch(f"{node.url}/api/v1/registries/{name}", auth=ADMIN, json=fields)
        assert changed.status_code == 200, changed.text


def _early_in_a_window(seconds_left: float = 10) -> None:
    """Wait for a fresh window unless `seconds_left` remain in this one: a burst must fit in
    one window."""
    into = time.time() % WINDOW
    if into > WINDOW - seconds_left:
        time.sleep(WINDOW - into + 0.5)


def _burst(nodes: list[Node], registry: str, requests: int) -> tuple[list[list[int]], bool]:
    """`requests` reads of `registry`, in turns on both nodes: each node's statuses, and
    whether they all fell in one window."""
    clients = [httpx.Client(base_url=node.url) for node in nodes]
    statuses: list[list[int]] = [[], []]
    _early_in_a_window(12)
    started = time.time()
    try:
        for turn in range(requests):
            index = turn % 2
            answer = clients[index].get("/v2/", headers={"Host": nodes[index].host(registry)})
            statuses[index].append(answer.status_code)
            if answer.status_code == 429:
                assert answer.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
                assert 1 <= int(answer.headers["Retry-After"]) <= WINDOW
    finally:
        for client in clients:
            client.close()
    return statuses, started // WINDOW == time.time() // WINDOW


def test_a_burst_split_across_nodes_is_limited_by_the_shared_count(nodes: list[Node]) -> None:
    limit = 200  # chunks of 4 per claim, the next claimed when 1 is left
    for attempt in range(3):  # a burst slowed past the end of its window is run again
        registry = f"burst{attempt}"
        _create(nodes[0], registry, readOpsPerMinute=limit)
        statuses, one_window = _burst(nodes, registry, limit + 60)
        if one_window:
            break
    assert one_window, "every burst straddled a window boundary"
    served = [s.count(401) for s in statuses]  # anonymous: counted, then challenged
    refused = [s.count(429) for s in statuses]
    assert set(statuses[0] + statuses[1]) == {401, 429}
    # Each node alone would have served up to the limit; together they served it once. At
    # most (nodes - 1) x (chunk + chunk // 4) units may have stayed unused on the other node.
    assert limit - 5 <= sum(served) <= limit, served
    assert refused[0] > 0 and refused[1] > 0, refused
    # Once a node has seen the window full, it refuses to the end of the burst.
    for s in statuses:
        first = s.index(429)
        assert set(s[first:]) == {429}
    assert "portside_rate_limited_requests_total" in httpx.get(f"{nodes[0].url}/metrics").text


def test_the_login_lockout_is_counted_across_nodes(nodes: list[Node]) -> None:
    _create(nodes[0], "locks", adminUserEnabled=True)
    wrong = "Basic " + base64.b64encode(b"locks:not-the-password").decode()

    def status(node: Node) -> int:
        headers = {"Host": node.host("locks"), "Authorization": wrong}
        return httpx.get(f"{node.url}/v2/", headers=headers).status_code

    # Ten failures in turns on both nodes: per node, five; the cluster counts ten.
    assert [status(nodes[turn % 2]) for turn in range(10)] == [401] * 10
    for node in nodes:
        assert status(node) == 429
    metrics = httpx.get(f"{nodes[1].url}/metrics").text
    assert "portside_login_failures_total 5.0" in metrics


def _refused_reads(node: Node) -> float:
    """The node's count of reads refused by a rate limit."""
    for line in httpx.get(f"{node.url}/metrics").text.splitlines():
        if line.startswith('portside_rate_limited_requests_total{kind="read"}'):
            return float(line.split()[-1])
    return 0.0


def test_skopeo_pulls_through_a_registry_over_its_read_limit(
    nodes: list[Node], tmp_path: Path
) -> None:
    skopeo = require_tool("skopeo")
    node = nodes[0]
    root = short_tmpdir("pse2e-throttle-")
    try:
        (root / "tmp").mkdir()
        host = f"127.0.0.1:{node.port}"
        env = containers_env(root, Registry("portside", host, node.url, root, root / "log"))
        cli = Cli((skopeo, "--insecure-policy"), env=env)
        archive = write_docker_archive(
            tmp_path / "archive.tar",
            "example.invalid/throttled:v1",
            [{"a.txt": b"first layer\n"}, {"b.txt": b"second layer\n"}],
        )
        # The default registry (anonymous on loopback), limited to 3 reads a window.
        cli(
            "copy",
            "--dest-tls-verify=false",
            f"docker-archive:{archive.path}",
            f"docker://{host}/app:v1",
        )
        changed = httpx.patch(
            f"{node.url}/api/v1/registries/default", auth=ADMIN, json={"readOpsPerMinute": 3}
        )
        assert changed.status_code == 200, changed.text
        refused_before = _refused_reads(node)
        _early_in_a_window()
        started = time.monotonic()
        # Ping, manifest, config and two layers: five reads, two beyond this window's three.
        cli(
            "copy",
            "--src-tls-verify=false",
            f"docker://{host}/app:v1",
            f"dir:{tmp_path / 'pulled'}",
            timeout=240,
        )
        waited = time.monotonic() - started
        assert (tmp_path / "pulled" / "manifest.json").is_file()
        # skopeo got a 429, waited for the next window as Retry-After said (at least 10 s
        # here), and went on.
        assert _refused_reads(node) > refused_before
        assert waited >= 9, waited
    finally:
        httpx.patch(
            f"{node.url}/api/v1/registries/default", auth=ADMIN, json={"readOpsPerMinute": None}
        )
        remove_tree(root)


def test_the_azure_sdks_retry_policy_waits_as_retry_after_says(nodes: list[Node]) -> None:
    # The SDK's clients insist on TLS for their bearer tokens (test_acr_sdk.py sets that up);
    # what decides the behaviour on a 429 is azure-core's RetryPolicy in their pipeline, run
    # here as the SDK runs it, on the default registry (anonymous on loopback).
    node = nodes[1]
    changed = httpx.patch(
        f"{node.url}/api/v1/registries/default", auth=ADMIN, json={"readOpsPerMinute": 1}
    )
    assert changed.status_code == 200, changed.text
    try:
        _early_in_a_window()
        httpx.get(f"{node.url}/v2/")  # the window's one read
        refused = httpx.get(f"{node.url}/v2/")
        assert refused.status_code == 429
        retry_after = int(refused.headers["Retry-After"])
        pipeline = Pipeline(transport=RequestsTransport(), policies=[RetryPolicy(retry_total=3)])
        started = time.monotonic()
        with pipeline:
            answer = pipeline.run(HttpRequest("GET", f"{node.url}/v2/")).http_response
        waited = time.monotonic() - started
        # Refused again at once, then retried after Retry-After seconds, in the next window.
        assert answer.status_code == 200
        assert waited >= retry_after - 1.5, (waited, retry_after)
    finally:
        httpx.patch(
            f"{node.url}/api/v1/registries/default", auth=ADMIN, json={"readOpsPerMinute": None}
        )


def test_docker_pull_over_the_read_limit_stops_with_toomanyrequests(
    nodes: list[Node], dockerd: Cli, tmp_path: Path
) -> None:
    node = nodes[0]
    host = f"127.0.0.1:{node.port}"
    archive = write_docker_archive(
        tmp_path / "docker.tar",
        f"{host}/dockerpull:v1",
        [{"a.txt": b"docker first\n"}, {"b.txt": b"docker second\n"}],
    )
    dockerd("load", "-i", str(archive.path))
    dockerd("push", f"{host}/dockerpull:v1", timeout=120)
    dockerd("rmi", f"{host}/dockerpull:v1")
    changed = httpx.patch(
        f"{node.url}/api/v1/registries/default", auth=ADMIN, json={"readOpsPerMinute": 3}
    )
    assert changed.status_code == 200, changed.text
    try:
        _early_in_a_window()
        started = time.monotonic()
        pulled = dockerd("pull", f"{host}/dockerpull:v1", check=False, timeout=240)
        waited = time.monotonic() - started
        # Docker does not retry a 429 (nor read Retry-After): the pull stops at the first one
        # (the manifest, or the image configuration: `download failed after attempts=1`) and
        # reports the registry's code and message. The user pulls again after the window.
        assert pulled.returncode == 1, pulled.stdout + pulled.stderr
        assert "toomanyrequests: the registry's reads per minute are used up" in pulled.stderr
        # At least 10 s were left in the window: a client waiting for it would have taken that.
        assert waited < 9, waited
    finally:
        httpx.patch(
            f"{node.url}/api/v1/registries/default", auth=ADMIN, json={"readOpsPerMinute": None}
        )
