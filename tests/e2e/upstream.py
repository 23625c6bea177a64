"""The reference registry (Debian `docker-registry`) as the upstream of a cache rule: pushes
into it as distribution 2.8 wants them, and its access log to count what it was asked."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.clients import Registry, ServerProcess
from tests.e2e.conftest import start_registry
from tests.registry_client import OCI_MANIFEST, digest_of, image_manifest

__all__ = ["Upstream", "reference_upstream"]


@dataclass
class Upstream:
    """The reference registry as an upstream: a client of it, its process and its log."""

    registry: Registry
    server: ServerProcess
    client: httpx.Client

    def push_blob(self, repository: str, data: bytes) -> str:
        """POST then PUT, as distribution 2.8 wants (it has no monolithic POST); the digest."""
        digest = digest_of(data)
        started = self.client.post(f"/v2/{repository}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]  # carries its own query (`_state`)
        separator = "&" if "?" in location else "?"
        done = self.client.put(f"{location}{separator}digest={digest}", content=data)
        assert done.status_code == 201, done.text
        return digest

    def push_image(
        self, repository: str, tag: str, layers: list[bytes] | None = None
    ) -> tuple[str, bytes]:
        """Config, layers, manifest; (manifest digest, manifest body)."""
        config = f'{{"architecture": "amd64", "os": "linux", "tag": "{tag}"}}'.encode()
        layers = layers if layers is not None else [f"layer of {repository}:{tag}".encode()]
        for blob in [config, *layers]:
            self.push_blob(repository, blob)
        body = image_manifest(config, layers)
        answer = self.client.put(
            f"/v2/{repository}/manifests/{tag}",
            content=body,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert answer.status_code == 201, answer.text
        return answer.headers["Docker-Content-Digest"], body

    def requests(self, method: str, path_part: str) -> int:
        """How many `method` requests whose path contains `path_part` it has logged."""
        text = self.registry.log_path.read_text()
        return sum(f'"{method} /v2/' in line and path_part in line for line in text.splitlines())


@contextlib.contextmanager
def reference_upstream(workdir: Path) -> Iterator[Upstream]:
    """A fresh reference registry in `workdir`, stopped on exit."""
    workdir.mkdir(parents=True)
    server, registry = start_registry("reference", workdir)
    try:
        with httpx.Client(base_url=registry.url, timeout=60.0) as client:
            yield Upstream(registry, server, client)
    finally:
        server.stop()
