"""Builds small container images on disk without any download or daemon.

Everything is deterministic: the same inputs give byte-identical blobs and therefore the same
digests, so tests can compare what comes back from the registry with what went in.

- `write_docker_archive` writes a `docker save`-style tar (manifest.json, config, layer tars).
- `build_multiarch_index` + `write_oci_layout` write an OCI image layout holding an image index
  of several platform manifests, each with its own config and gzip layer.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
REF_NAME = "org.opencontainers.image.ref.name"

FIXED_MTIME = 1_700_000_000
CREATED = "2023-11-14T22:13:20Z"

Layer = Mapping[str, bytes]
"""One layer: file path inside the image -> file content."""


def sha256_digest(data: bytes) -> str:
    """The OCI digest string of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Compact JSON with sorted keys: stable bytes, hence a stable digest."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Blob:
    """A blob with its media type; knows its own digest and descriptor."""

    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        """sha256 digest of the content."""
        return sha256_digest(self.data)

    @property
    def hex(self) -> str:
        """The digest without its algorithm prefix."""
        return self.digest.split(":", 1)[1]

    @property
    def size(self) -> int:
        """Length of the content in bytes."""
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        """An OCI content descriptor for this blob, with optional extra fields."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


EMPTY_CONFIG = Blob(OCI_EMPTY, b"{}")


def layer_tar(files: Layer) -> bytes:
    """An uncompressed layer tar of `files` with fixed owners, modes and times."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            content = files[name]
            info = tarfile.TarInfo(name.lstrip("/"))
            info.size = len(content)
            info.mtime = FIXED_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """Gzip with a zero timestamp, so the output depends on the input only."""
    return gzip.compress(data, compresslevel=6, mtime=0)


def image_config(diff_ids: Sequence[str], architecture: str, os: str = "linux") -> dict[str, Any]:
    """A minimal image configuration (valid both as OCI and as Docker config)."""
    return {
        "architecture": architecture,
        "os": os,
        "created": CREATED,
        "config": {"Env": ["PATH=/"], "Labels": {"org.example.arch": architecture}},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": CREATED, "created_by": "portside e2e"} for _ in diff_ids],
    }


@dataclass(frozen=True)
class DockerArchive:
    """What `write_docker_archive` wrote: the config blob and the uncompressed layer tars."""

    path: Path
    repo_tag: str
    config: Blob
    layers: tuple[bytes, ...]

    @property
    def image_id(self) -> str:
        """The image id Docker and Podman give this image: the config digest."""
        return self.config.digest

    @property
    def diff_ids(self) -> list[str]:
        """Digests of the uncompressed layers."""
        return [sha256_digest(layer) for layer in self.layers]


def _add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = FIXED_MTIME
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_docker_archive(
    path: Path, repo_tag: str, layers: Sequence[Layer], architecture: str = "amd64"
) -> DockerArchive:
    """Write a docker-archive tar (the `docker save` format) holding one tagged image."""
    tars = tuple(layer_tar(files) for files in layers)
    diff_ids = [sha256_digest(t) for t in tars]
    config = Blob(
        "application/vnd.docker.container.image.v1+json",
        canonical_json(image_config(diff_ids, architecture)),
    )
    layer_paths = [f"{d.split(':', 1)[1]}/layer.tar" for d in diff_ids]
    manifest = [{"Config": f"{config.hex}.json", "RepoTags": [repo_tag], "Layers": layer_paths}]
    name, _, tag = repo_tag.rpartition(":")
    repositories = {name: {tag: layer_paths[-1].split("/")[0]}}
    with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for layer_path, data in zip(layer_paths, tars, strict=True):
            _add_file(tar, layer_path, data)
        _add_file(tar, f"{config.hex}.json", config.data)
        _add_file(tar, "manifest.json", canonical_json(manifest))
        _add_file(tar, "repositories", canonical_json(repositories))
    return DockerArchive(path=path, repo_tag=repo_tag, config=config, layers=tars)


def read_docker_archive(path: Path) -> tuple[bytes, list[bytes]]:
    """Read back a docker-archive tar: (config bytes, uncompressed layer tars in order)."""
    with tarfile.open(path, mode="r") as tar:

        def member(name: str) -> bytes:
            extracted = tar.extractfile(name)
            assert extracted is not None, f"{name} missing from {path}"
            return extracted.read()

        (entry,) = json.loads(member("manifest.json"))
        return member(entry["Config"]), [member(name) for name in entry["Layers"]]


@dataclass(frozen=True)
class OciImage:
    """One single-platform OCI image: manifest, config and gzip layers."""

    architecture: str
    os: str
    manifest: Blob
    config: Blob
    layers: tuple[Blob, ...]

    def blobs(self) -> list[Blob]:
        """Every blob of the image, manifest included."""
        return [self.manifest, self.config, *self.layers]

    def platform(self) -> dict[str, str]:
        """The platform object for an index entry."""
        return {"architecture": self.architecture, "os": self.os}


def build_oci_image(layers: Sequence[Layer], architecture: str, os: str = "linux") -> OciImage:
    """Build an OCI image manifest with a config and one gzip layer per entry of `layers`."""
    tars = [layer_tar(files) for files in layers]
    layer_blobs = tuple(Blob(OCI_LAYER_GZIP, gzip_bytes(t)) for t in tars)
    config = Blob(
        OCI_CONFIG, canonical_json(image_config([sha256_digest(t) for t in tars], architecture, os))
    )
    manifest = Blob(
        OCI_MANIFEST,
        canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config.descriptor(),
                "layers": [b.descriptor() for b in layer_blobs],
                "annotations": {"org.opencontainers.image.created": CREATED},
            }
        ),
    )
    return OciImage(architecture, os, manifest, config, layer_blobs)


@dataclass(frozen=True)
class OciIndex:
    """An image index and the platform images it lists."""

    index: Blob
    images: tuple[OciImage, ...]

    def blobs(self) -> list[Blob]:
        """Every blob reachable from the index, the index included."""
        return [self.index, *(b for image in self.images for b in image.blobs())]

    def image_for(self, architecture: str) -> OciImage:
        """The image for one architecture."""
        return next(i for i in self.images if i.architecture == architecture)


def build_multiarch_index(architectures: Sequence[str] = ("amd64", "arm64")) -> OciIndex:
    """An OCI image index with one linux image per architecture; each has distinct content."""
    images = tuple(
        build_oci_image(
            [
                {"etc/arch": arch.encode() + b"\n"},
                {"srv/hello.txt": b"hello from " + arch.encode()},
            ],
            architecture=arch,
        )
        for arch in architectures
    )
    index = Blob(
        OCI_INDEX,
        canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [i.manifest.descriptor(platform=i.platform()) for i in images],
                "annotations": {"org.opencontainers.image.created": CREATED},
            }
        ),
    )
    return OciIndex(index, images)


def write_oci_layout(directory: Path, root: Blob, blobs: Sequence[Blob], ref_name: str) -> None:
    """Write an OCI image layout whose index.json names `root` as `ref_name`."""
    blob_dir = directory / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    for blob in blobs:
        (blob_dir / blob.hex).write_bytes(blob.data)
    (directory / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    index_json = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [root.descriptor(annotations={REF_NAME: ref_name})],
    }
    (directory / "index.json").write_bytes(canonical_json(index_json))
