"""ORAS (Python library) against the registry: artifacts with `subject`, and the referrers API.

Two artifacts refer to one image:
- an SBOM with an explicit `artifactType` and the empty config (the OCI 1.1 way), pushed with
  oras' blob and manifest upload calls, and
- a signature-like artifact pushed with oras' high-level `push(subject=...)`, which sets no
  `artifactType`, so the registry must report the config media type as its artifactType.

The reference registry (distribution 2.8.2) stores both but has no referrers API, so the referrers
tests are expected to fail (strict xfail) only when PORTSIDE_E2E_TARGET=reference.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import oras.client
import oras.oci
import pytest

from .clients import Registry, e2e_target
from .images import (
    EMPTY_CONFIG,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_TAR,
    OCI_MANIFEST,
    Blob,
    canonical_json,
    image_config,
    layer_tar,
    sha256_digest,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

REPOSITORY = "warrantydept/oras/app"
SBOM_TYPE = "application/vnd.example.sbom+json"
SIGNATURE_TYPE = "application/vnd.example.signature.v1+json"
SBOM_ANNOTATIONS = {
    "org.opencontainers.image.created": "2024-01-02T03:04:05Z",
    "com.example.sbom.format": "spdx-2.3",
}
SIGNATURE_ANNOTATIONS = {"com.example.signed-by": "warrantydept-ci"}

needs_referrers = pytest.mark.xfail(
    e2e_target() == "reference",
    reason="the reference registry (distribution 2.8.2) does not implement the referrers API",
    raises=AssertionError,
    strict=True,
)


@dataclass(frozen=True)
class Pushed:
    """A manifest as the registry stored it: descriptor fields plus the PUT response headers."""

    media_type: str
    digest: str
    size: int
    put_headers: dict[str, str]

    def descriptor(self) -> dict[str, Any]:
        """The OCI descriptor of the manifest."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Artifacts:
    """The image and the two artifacts that name it as their subject."""

    image: Pushed
    sbom: Pushed
    signature: Pushed
    sbom_content: bytes
    signature_content: bytes


@pytest.fixture(scope="module")
def oras_client(registry: Registry) -> Iterator[oras.client.OrasClient]:
    """An ORAS client talking plain HTTP to the registry under test."""
    client = oras.client.OrasClient(hostname=registry.host, insecure=True)
    try:
        yield client
    finally:
        client.session.close()


def fetch_manifest(registry: Registry, reference: str) -> httpx.Response:
    """GET a manifest of REPOSITORY by tag or digest, accepting OCI types."""
    response = httpx.get(
        f"{registry.url}/v2/{REPOSITORY}/manifests/{reference}",
        headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
        timeout=10,
    )
    assert response.status_code == 200, f"GET manifest {reference}: {response.text}"
    return response


def stored(registry: Registry, reference: str, put: Any) -> Pushed:
    """Describe the manifest the registry now serves at `reference` (checking its digest)."""
    assert put.status_code == 201, f"manifest PUT answered {put.status_code}: {put.text}"
    response = fetch_manifest(registry, reference)
    digest = sha256_digest(response.content)
    assert response.headers["Docker-Content-Digest"] == digest
    assert put.headers.get("Docker-Content-Digest") == digest
    media_type = json.loads(response.content)["mediaType"]
    return Pushed(media_type, digest, len(response.content), dict(put.headers))


def push_image(client: oras.client.OrasClient, registry: Registry, workdir: Path) -> Pushed:
    """Push a one-layer OCI image with oras' high-level push."""
    layer = layer_tar({"srv/app.txt": b"warranty app\n"})
    (workdir / "layer.tar").write_bytes(layer)
    config = canonical_json(image_config([sha256_digest(layer)], "amd64"))
    (workdir / "config.json").write_bytes(config)
    put = client.push(
        target=f"{registry.host}/{REPOSITORY}:v1",
        files=[f"{workdir / 'layer.tar'}:{OCI_LAYER_TAR}"],
        manifest_config=f"{workdir / 'config.json'}:{OCI_CONFIG}",
        disable_path_validation=True,
        quiet=True,
    )
    return stored(registry, "v1", put)


def push_sbom(
    client: oras.client.OrasClient, registry: Registry, workdir: Path, subject: Pushed
) -> tuple[Pushed, bytes]:
    """Push an SBOM artifact (explicit artifactType, empty config) with oras' upload calls."""
    content = canonical_json({"spdxVersion": "SPDX-2.3", "name": "warranty-app", "packages": []})
    sbom = Blob("application/spdx+json", content)
    (workdir / "sbom.spdx.json").write_bytes(content)
    (workdir / "empty.json").write_bytes(EMPTY_CONFIG.data)
    container = client.get_container(f"{registry.host}/{REPOSITORY}:sbom")
    layer = sbom.descriptor(annotations={"org.opencontainers.image.title": "sbom.spdx.json"})
    for path, descriptor in (
        (workdir / "sbom.spdx.json", layer),
        (workdir / "empty.json", EMPTY_CONFIG.descriptor()),
    ):
        uploaded = client.upload_blob(str(path), container, descriptor)
        assert uploaded.status_code in (200, 201), uploaded.text
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SBOM_TYPE,
        "config": EMPTY_CONFIG.descriptor(),
        "layers": [layer],
        "subject": subject.descriptor(),
        "annotations": SBOM_ANNOTATIONS,
    }
    put = client.upload_manifest(manifest, container)
    return stored(registry, "sbom", put), content


def push_signature(
    client: oras.client.OrasClient, registry: Registry, workdir: Path, subject: Pushed
) -> tuple[Pushed, bytes]:
    """Push a signature-like artifact with oras' high-level push and its `subject` argument."""
    content = b"-----BEGIN SIGNATURE-----\nZTJl\n-----END SIGNATURE-----\n"
    (workdir / "image.sig").write_bytes(content)
    (workdir / "sig-config.json").write_bytes(canonical_json({"signer": "warrantydept-ci"}))
    put = client.push(
        target=f"{registry.host}/{REPOSITORY}:sig",
        files=[f"{workdir / 'image.sig'}:application/vnd.example.signature.layer.v1"],
        manifest_config=f"{workdir / 'sig-config.json'}:{SIGNATURE_TYPE}",
        manifest_annotations=SIGNATURE_ANNOTATIONS,
        subject=oras.oci.Subject(subject.media_type, subject.digest, subject.size),
        disable_path_validation=True,
        quiet=True,
    )
    return stored(registry, "sig", put), content


@pytest.fixture(scope="module")
def artifacts(
    oras_client: oras.client.OrasClient,
    registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Artifacts:
    """Push the image, then the SBOM and the signature that refer to it."""
    workdir = tmp_path_factory.mktemp("oras")
    image = push_image(oras_client, registry, workdir)
    sbom, sbom_content = push_sbom(oras_client, registry, workdir, image)
    signature, signature_content = push_signature(oras_client, registry, workdir, image)
    return Artifacts(image, sbom, signature, sbom_content, signature_content)


def referrers(registry: Registry, digest: str, **params: str) -> httpx.Response:
    """GET /v2/<REPOSITORY>/referrers/<digest>."""
    return httpx.get(
        f"{registry.url}/v2/{REPOSITORY}/referrers/{digest}", params=params, timeout=10
    )


def index_of(response: httpx.Response) -> list[dict[str, Any]]:
    """Check a referrers response is an OCI image index; return its descriptors."""
    assert response.status_code == 200, f"referrers: {response.status_code} {response.text}"
    assert response.headers["Content-Type"].split(";")[0].strip() == OCI_INDEX
    body = response.json()
    assert body["schemaVersion"] == 2
    assert body["mediaType"] == OCI_INDEX
    manifests: list[dict[str, Any]] = body["manifests"]
    return manifests


def test_artifacts_are_stored_with_subject(
    artifacts: Artifacts,
    registry: Registry,
    oras_client: oras.client.OrasClient,
    tmp_path: Path,
) -> None:
    """Both artifact manifests keep their subject, and oras pulls their files back."""
    sbom = fetch_manifest(registry, artifacts.sbom.digest).json()
    assert sbom["artifactType"] == SBOM_TYPE
    assert sbom["subject"] == artifacts.image.descriptor()
    assert sbom["annotations"] == SBOM_ANNOTATIONS
    signature = fetch_manifest(registry, artifacts.signature.digest).json()
    assert signature["config"]["mediaType"] == SIGNATURE_TYPE
    assert signature["subject"] == artifacts.image.descriptor()

    sbom_files = oras_client.pull(
        target=f"{registry.host}/{REPOSITORY}@{artifacts.sbom.digest}", outdir=str(tmp_path / "s")
    )
    sig_files = oras_client.pull(
        target=f"{registry.host}/{REPOSITORY}:sig", outdir=str(tmp_path / "g")
    )
    assert [Path(f).read_bytes() for f in sbom_files] == [artifacts.sbom_content]
    assert [Path(f).read_bytes() for f in sig_files] == [artifacts.signature_content]


@needs_referrers
def test_put_with_subject_answers_oci_subject(artifacts: Artifacts) -> None:
    """A registry with the referrers API says so on a PUT carrying `subject` (OCI-Subject)."""
    for pushed in (artifacts.sbom, artifacts.signature):
        headers = {name.lower(): value for name, value in pushed.put_headers.items()}
        assert headers.get("oci-subject") == artifacts.image.digest, headers


@needs_referrers
def test_referrers_lists_both_artifacts(artifacts: Artifacts, registry: Registry) -> None:
    """The referrers index names both artifacts with artifactType and annotations."""
    listed = index_of(referrers(registry, artifacts.image.digest))
    by_digest = {d["digest"]: d for d in listed}
    assert set(by_digest) == {artifacts.sbom.digest, artifacts.signature.digest}

    sbom = by_digest[artifacts.sbom.digest]
    assert sbom["mediaType"] == OCI_MANIFEST
    assert sbom["size"] == artifacts.sbom.size
    assert sbom["artifactType"] == SBOM_TYPE
    assert sbom["annotations"] == SBOM_ANNOTATIONS

    signature = by_digest[artifacts.signature.digest]
    assert signature["size"] == artifacts.signature.size
    assert signature["artifactType"] == SIGNATURE_TYPE  # falls back to config.mediaType
    assert signature["annotations"] == SIGNATURE_ANNOTATIONS


@needs_referrers
def test_referrers_artifact_type_filter(artifacts: Artifacts, registry: Registry) -> None:
    """?artifactType= returns only matching referrers and says the filter was applied."""
    response = referrers(registry, artifacts.image.digest, artifactType=SBOM_TYPE)
    listed = index_of(response)
    assert [d["digest"] for d in listed] == [artifacts.sbom.digest]
    assert listed[0]["artifactType"] == SBOM_TYPE
    assert response.headers.get("OCI-Filters-Applied") == "artifactType"

    none = referrers(registry, artifacts.image.digest, artifactType="application/x-nothing")
    assert index_of(none) == []


@needs_referrers
def test_referrers_of_unknown_digest_is_empty(artifacts: Artifacts, registry: Registry) -> None:
    """A digest nothing refers to gives an empty index, not 404."""
    unknown = sha256_digest(b"nothing refers to this")
    assert index_of(referrers(registry, unknown)) == []
    assert index_of(referrers(registry, artifacts.sbom.digest)) == []
