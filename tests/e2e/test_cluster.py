"""Several stateless Portside nodes over shared PostgreSQL and S3 (SeaweedFS), behind nginx.

Nothing an upload or a pull needs lives in one node's memory: chunks of one upload land on
different nodes, docker pushes and pulls through the balancer, and a node stopped in the middle
of a push costs only a retry. nginx runs the configuration docs/operations.md shows, TLS
included (tests/backends/nginx.py reads it out of the document). Docker reaches it over TLS
without trusting the test's CA because it treats registries on 127.0.0.0/8 as insecure: it
still speaks TLS to them but skips verification; the tests' own clients verify.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backends.nginx import start_nginx
from tests.backends.postgres import postgres_cluster
from tests.backends.seaweedfs import ACCESS_KEY, SECRET_KEY, SeaweedFS
from tests.conftest import BUCKET
from tests.e2e.clients import Cli, ServerProcess, free_port
from tests.e2e.conftest import portside_executable
from tests.e2e.tls import make_certificates

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = uuid.uuid4().hex


@dataclass
class Cluster:
    """Nodes, the balancer in front of them, and where each node logs."""

    nodes: list[ServerProcess]
    host: str
    verify: ssl.SSLContext

    @property
    def url(self) -> str:
        """The balancer's base URL."""
        return f"https://{self.host}"

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTPS client of the balancer that trusts the test's CA."""
        return httpx.Client(base_url=self.url, verify=self.verify, **kwargs)

    def requests_seen(self, node: int, needle: str) -> int:
        """How many access-log lines of `node` mention `needle`."""
        return sum(needle in line for line in self.nodes[node].log_path.read_text().splitlines())


def start_node(root: Path, index: int, database_url: str, storage: dict[str, str]) -> ServerProcess:
    """One Portside process sharing the database and the blob storage (S3 on SeaweedFS)."""
    port = free_port()
    workdir = root / f"node{index}"
    workdir.mkdir()
    argv = [portside_executable(), "serve", "--port", str(port), "--data-dir", str(workdir)]
    env = {
        "PORTSIDE_DATABASE_URL": database_url,
        "PORTSIDE_ACCESS_LOG": "true",
        # As docs/operations.md asks of nodes behind the documented nginx.
        "PORTSIDE_TRUST_FORWARDED_PROTO": "true",
        "PORTSIDE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **storage,
    }
    node = ServerProcess.start(f"node{index}", argv, workdir / "portside.log", env=env)
    node.wait_ready(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200)
    node.port = port  # type: ignore[attr-defined]
    return node


@pytest.fixture(scope="module")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Two nodes over one PostgreSQL database and one S3 bucket, nginx in front."""
    root = tmp_path_factory.mktemp("cluster")
    certificates = make_certificates(root, "localhost")
    seaweed: SeaweedFS = request.getfixturevalue("seaweedfs")
    storage = {
        "PORTSIDE_STORAGE_DRIVER": "s3",
        "PORTSIDE_S3_BUCKET": BUCKET,
        "PORTSIDE_S3_ENDPOINT_URL": seaweed.endpoint_url,
        "PORTSIDE_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "PORTSIDE_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "PORTSIDE_S3_ADDRESSING_STYLE": "path",
        "PORTSIDE_S3_PREFIX": f"cluster-{uuid.uuid4().hex[:12]}",
    }
    with postgres_cluster(request.config).fresh_database() as database_url:
        nodes: list[ServerProcess] = []
        balancer = None
        try:
            for index in range(2):
                nodes.append(start_node(root, index, database_url, storage))
            ports = [n.port for n in nodes]  # type: ignore[attr-defined]
            balancer, port = start_nginx(root / "nginx", ports, certificates)
            verify = ssl.create_default_context(cafile=str(certificates.ca))
            yield Cluster(nodes, f"127.0.0.1:{port}", verify)
        finally:
            if balancer is not None:
                balancer.stop()
            for node in nodes:
                node.stop()


def test_chunks_of_one_upload_land_on_different_nodes(cluster: Cluster) -> None:
    data = bytes(range(256)) * 4096 * 3  # 3 MiB in six chunks
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with cluster.client() as client:
        started = client.post("/v2/cluster/chunks/blobs/uploads/")
        assert started.status_code == 202
        location = started.headers["Location"]
        upload_id = started.headers["Docker-Upload-UUID"]
        step = len(data) // 6
        for offset in range(0, len(data), step):
            chunk = data[offset : offset + step]
            response = client.patch(
                location,
                content=chunk,
                headers={"Content-Range": f"{offset}-{offset + len(chunk) - 1}"},
            )
            assert response.status_code == 202, response.text
            location = response.headers["Location"]
        done = client.put(location, params={"digest": digest})
        assert done.status_code == 201, done.text
        pulled = client.get(f"/v2/cluster/chunks/blobs/{digest}")
    assert pulled.content == data
    # Round robin sent the session's requests to both nodes.
    assert cluster.requests_seen(0, upload_id) > 0
    assert cluster.requests_seen(1, upload_id) > 0


def test_nodes_see_the_clients_scheme_and_host(cluster: Cluster) -> None:
    # Host and X-Forwarded-Proto as the documented block sets them: the request reaches the
    # registry its login server names, and its token challenge names that login server over
    # HTTPS, as the client must use it (not a node's plain-HTTP address).
    with cluster.client() as client:
        created = client.post(
            "/api/v1/registries", json={"name": "sealed"}, auth=("admin", ADMIN_PASSWORD)
        )
        assert created.status_code == 201, created.text
        login_server = f"sealed.localhost:{cluster.host.rpartition(':')[2]}"
        answer = client.get("/v2/app/manifests/v1", headers={"Host": login_server})
    assert answer.status_code == 401, answer.text
    challenge = answer.headers["www-authenticate"]
    assert f'realm="https://{login_server}/oauth2/token"' in challenge, challenge
    assert f'service="{login_server}"' in challenge, challenge


def test_docker_push_and_pull_through_the_balancer(
    cluster: Cluster, dockerd: Cli, tmp_path: Path
) -> None:
    ref = f"{cluster.host}/cluster/web:v1"
    image_id = build_image(dockerd, tmp_path, "web", size=4 << 20)
    dockerd("tag", image_id, ref)
    dockerd("push", ref, timeout=180)
    dockerd("rmi", ref)
    dockerd("pull", ref, timeout=180)
    assert dockerd("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip() == image_id


def test_push_survives_a_node_stopped_midway(
    cluster: Cluster, dockerd: Cli, tmp_path: Path
) -> None:
    ref = f"{cluster.host}/cluster/big:v1"
    image_id = build_image(dockerd, tmp_path, "big", size=48 << 20)
    dockerd("tag", image_id, ref)
    pulls_ok: list[bool] = []
    stop = threading.Event()

    def keep_pulling() -> None:
        with cluster.client(timeout=10) as client:
            while not stop.is_set():
                pulls_ok.append(client.get("/v2/cluster/web/manifests/v1").status_code == 200)

    puller = threading.Thread(target=keep_pulling)
    puller.start()
    push = subprocess.Popen(
        [*dockerd.prefix, "push", ref],
        env={**os.environ, **dockerd.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        threading.Event().wait(1.0)  # the push is under way
        cluster.nodes[0].stop()  # by its pid
        push.wait(timeout=180)
        # Whatever the interrupted push managed, a retry completes it through the other node.
        dockerd("push", ref, timeout=180)
    finally:
        stop.set()
        puller.join()
        if push.poll() is None:
            push.kill()
    dockerd("rmi", ref)
    dockerd("pull", ref, timeout=180)
    assert dockerd("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip() == image_id
    assert pulls_ok and all(pulls_ok), f"{pulls_ok.count(False)} of {len(pulls_ok)} pulls failed"


def build_image(docker: Cli, tmp_path: Path, name: str, size: int) -> str:
    """A FROM-scratch image with one layer of `size` random bytes; returns its id."""
    context = tmp_path / name
    context.mkdir()
    (context / "payload.bin").write_bytes(os.urandom(size))  # incompressible: a real transfer
    (context / "Dockerfile").write_text("FROM scratch\nCOPY payload.bin /payload.bin\n")
    docker("build", "-q", "-t", f"local/{name}", str(context), timeout=180)
    return docker("image", "inspect", "--format", "{{.Id}}", f"local/{name}").stdout.strip()
