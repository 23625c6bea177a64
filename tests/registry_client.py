"""Test helpers speaking the distribution API through a Starlette TestClient."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.testclient import TestClient

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    """`algorithm:hex` of `data`."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def push_blob(client: TestClient, repo: str, data: bytes) -> str:
    """Push `data` monolithically; returns its digest."""
    digest = digest_of(data)
    response = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert response.status_code == 201, response.text
    return digest


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    """A descriptor for `data`."""
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


def image_manifest(config: bytes, layers: list[bytes], **extra: Any) -> bytes:
    """An OCI image manifest body for the given config and layers."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER, layer) for layer in layers],
        **extra,
    }
    return json.dumps(doc).encode()


def push_image(
    client: TestClient, repo: str, tag: str, layers: list[bytes] | None = None, **extra: Any
) -> tuple[str, bytes]:
    """Push config, layers and manifest; returns (manifest digest, manifest body)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    layers = layers if layers is not None else [f"layer of {repo}:{tag}".encode()]
    for blob in [config, *layers]:
        push_blob(client, repo, blob)
    body = image_manifest(config, layers, **extra)
    response = client.put(
        f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"], body


def error_code(response: Any) -> str:
    """The first OCI error code of a response body."""
    return str(response.json()["errors"][0]["code"])
