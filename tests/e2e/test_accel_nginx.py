"""A node with `accel_redirect_prefix` behind the documented nginx, with the documented
X-Accel-Redirect location (docs/operations.md): nginx sends the blob's file with the node's
headers, the node still decides who may read it, and clients cannot reach the location."""

from __future__ import annotations

import hashlib
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.backends.nginx import ACCEL_PREFIX, accel_location, documented_config, start_nginx
from tests.e2e.clients import ServerProcess, free_port
from tests.e2e.conftest import portside_executable
from tests.e2e.tls import make_certificates

pytestmark = pytest.mark.e2e

LAYER = bytes(range(256)) * 4096 * 3  # 3 MiB
DIGEST = "sha256:" + hashlib.sha256(LAYER).hexdigest()


@dataclass(frozen=True)
class Front:
    """nginx's address and the CA to trust."""

    url: str
    verify: ssl.SSLContext

    def client(self) -> httpx.Client:
        """A client through nginx."""
        return httpx.Client(base_url=self.url, verify=self.verify, timeout=30)


@pytest.fixture(scope="module")
def front() -> Iterator[Front]:
    """One node on the filesystem driver with the prefix set, nginx in front of it."""
    # Not under pytest's temporary folders (mode 0700): nginx's workers run as an
    # unprivileged user and must reach the blob files.
    root = Path(tempfile.mkdtemp(prefix="portside-accel-"))
    root.chmod(0o755)
    port = free_port()
    data = root / "data"
    argv = [portside_executable(), "serve", "--port", str(port), "--data-dir", str(data)]
    env = {"PORTSIDE_ACCEL_REDIRECT_PREFIX": ACCEL_PREFIX, "PORTSIDE_WORKERS": "1"}
    node = ServerProcess.start("node", argv, root / "portside.log", env=env)
    balancer = None
    try:
        node.wait_ready(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200)
        block = _one_node(documented_config())
        block = block.rstrip().removesuffix("}") + accel_location(data / "blobs") + "}\n"
        certificates = make_certificates(root, "localhost")
        balancer, nginx_port = start_nginx(root / "nginx", [port], certificates, block)
        verify = ssl.create_default_context(cafile=str(certificates.ca))
        yield Front(f"https://127.0.0.1:{nginx_port}", verify)
    finally:
        if balancer is not None:
            balancer.stop()
        node.stop()
        shutil.rmtree(root, ignore_errors=True)


def _one_node(block: str) -> str:
    start = block.index("upstream portside {")
    end = block.index("}", start)
    return block[:start] + "upstream portside {\n    server 10.0.0.11:5000;\n" + block[end:]


def _push(client: httpx.Client, repo: str) -> None:
    started = client.post(f"/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    sep = "&" if "?" in location else "?"
    done = client.put(f"{location}{sep}digest={DIGEST}", content=LAYER)
    assert done.status_code == 201, done.text


def test_nginx_sends_the_file_with_the_nodes_headers(front: Front) -> None:
    with front.client() as client:
        _push(client, "accel/app")
        pulled = client.get(f"/v2/accel/app/blobs/{DIGEST}")
        assert pulled.status_code == 200
        assert pulled.content == LAYER
        assert pulled.headers["Content-Length"] == str(len(LAYER))
        assert pulled.headers["Docker-Content-Digest"] == DIGEST
        assert pulled.headers["ETag"] == f'"{DIGEST}"'
        assert pulled.headers["Content-Type"] == "application/octet-stream"
        assert "X-Accel-Redirect" not in pulled.headers
        ranged = client.get(f"/v2/accel/app/blobs/{DIGEST}", headers={"Range": "bytes=5-14"})
        assert ranged.status_code == 206 and ranged.content == LAYER[5:15]
        assert ranged.headers["Content-Range"] == f"bytes 5-14/{len(LAYER)}"


def test_the_node_decides_and_the_location_is_internal(front: Front) -> None:
    with front.client() as client:
        _push(client, "accel/app")
        elsewhere = client.get(f"/v2/accel/other/blobs/{DIGEST}")
        assert elsewhere.status_code == 404
        assert elsewhere.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
        hexdigest = DIGEST.removeprefix("sha256:")
        direct = client.get(f"{ACCEL_PREFIX}blobs/sha256/{hexdigest[:2]}/{hexdigest}")
        assert direct.status_code == 404
        assert direct.content != LAYER
