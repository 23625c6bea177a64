"""skopeo against the registry: docker-archive copy, multi-arch index copy, tags, delete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .clients import Cli, Registry
from .images import (
    OCI_INDEX,
    DockerArchive,
    build_multiarch_index,
    read_docker_archive,
    sha256_digest,
    write_docker_archive,
    write_oci_layout,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

TLS_OFF = "--tls-verify=false"
DEST_TLS_OFF = "--dest-tls-verify=false"
SRC_TLS_OFF = "--src-tls-verify=false"


def docker_ref(registry: Registry, repository: str, tag_or_digest: str) -> str:
    """A `docker://` transport reference into the registry under test."""
    return "docker://" + registry.ref(repository, tag_or_digest)


def inspect(skopeo: Cli, ref: str, *args: str) -> dict[str, Any]:
    """`skopeo inspect` as parsed JSON."""
    result: dict[str, Any] = json.loads(skopeo("inspect", TLS_OFF, *args, ref).stdout)
    return result


def raw(skopeo: Cli, ref: str, *args: str) -> bytes:
    """`skopeo inspect --raw` output: the manifest bytes exactly as the registry served them."""
    result = skopeo("inspect", TLS_OFF, "--raw", *args, ref)
    return result.stdout.encode()


def make_archive(tmp_path: Path, tag: str) -> DockerArchive:
    """A two-layer docker-archive made by hand."""
    return write_docker_archive(
        tmp_path / "archive.tar",
        f"example.invalid/skopeo/source:{tag}",
        [{"app/claims.csv": b"id,amount\n1,100\n"}, {"app/VERSION": tag.encode() + b"\n"}],
    )


def test_copy_docker_archive_and_back(skopeo: Cli, registry: Registry, tmp_path: Path) -> None:
    """docker-archive -> registry -> docker-archive keeps the config and layer bytes."""
    archive = make_archive(tmp_path, "v1")
    dest = docker_ref(registry, "warrantydept/skopeo/archive", "v1")
    skopeo("copy", DEST_TLS_OFF, f"docker-archive:{archive.path}", dest)

    info = inspect(skopeo, dest)
    assert info["Architecture"] == "amd64"
    assert info["Os"] == "linux"
    assert len(info["Layers"]) == 2
    assert "v1" in info["RepoTags"]
    manifest_bytes = raw(skopeo, dest)
    assert info["Digest"] == sha256_digest(manifest_bytes)
    assert raw(skopeo, dest, "--config") == archive.config.data

    back = tmp_path / "back.tar"
    skopeo("copy", SRC_TLS_OFF, dest, f"docker-archive:{back}:example.invalid/back:v1")
    config, layers = read_docker_archive(back)
    assert config == archive.config.data
    assert layers == list(archive.layers)


def test_copy_all_multiarch_index(skopeo: Cli, registry: Registry, tmp_path: Path) -> None:
    """`copy --all` of an OCI layout with an amd64+arm64 index: index and children come back."""
    index = build_multiarch_index(("amd64", "arm64"))
    layout = tmp_path / "layout"
    write_oci_layout(layout, index.index, index.blobs(), "v1")
    repository = "warrantydept/skopeo/multiarch"
    dest = docker_ref(registry, repository, "v1")

    skopeo("copy", "--all", DEST_TLS_OFF, f"oci:{layout}:v1", dest)

    served_index = raw(skopeo, dest)
    assert json.loads(served_index)["mediaType"] == OCI_INDEX
    assert served_index == index.index.data
    for image in index.images:
        child = docker_ref(registry, repository, image.manifest.digest)
        assert raw(skopeo, child) == image.manifest.data
        assert raw(skopeo, child, "--config") == image.config.data

    for arch in ("amd64", "arm64"):
        info = inspect(skopeo, dest, "--override-arch", arch, "--override-os", "linux")
        assert info["Architecture"] == arch
        assert info["Digest"] == index.index.digest  # skopeo reports the digest of the ref
        assert info["Layers"] == [layer.digest for layer in index.image_for(arch).layers]


def test_list_tags(skopeo: Cli, registry: Registry, tmp_path: Path) -> None:
    """Tags pushed to a repository are all listed (also exercises registry-to-registry copy)."""
    archive = make_archive(tmp_path, "tags")
    repository = "warrantydept/skopeo/tagged"
    first = docker_ref(registry, repository, "v1")
    skopeo("copy", DEST_TLS_OFF, f"docker-archive:{archive.path}", first)
    for tag in ("v2", "latest"):
        skopeo("copy", SRC_TLS_OFF, DEST_TLS_OFF, first, docker_ref(registry, repository, tag))
    other = docker_ref(registry, "warrantydept/skopeo/mounted", "copied")
    skopeo("copy", SRC_TLS_OFF, DEST_TLS_OFF, first, other)

    listed = json.loads(
        skopeo("list-tags", TLS_OFF, f"docker://{registry.host}/{repository}").stdout
    )

    assert listed["Repository"] == f"{registry.host}/{repository}"
    assert sorted(listed["Tags"]) == ["latest", "v1", "v2"]
    assert inspect(skopeo, other)["Digest"] == inspect(skopeo, first)["Digest"]


def test_delete_then_inspect_fails(skopeo: Cli, registry: Registry, tmp_path: Path) -> None:
    """After `skopeo delete`, the manifest is gone by tag and by digest."""
    archive = make_archive(tmp_path, "doomed")
    repository = "warrantydept/skopeo/deleted"
    ref = docker_ref(registry, repository, "v1")
    skopeo("copy", DEST_TLS_OFF, f"docker-archive:{archive.path}", ref)
    digest = inspect(skopeo, ref)["Digest"]
    by_digest = docker_ref(registry, repository, digest)
    assert raw(skopeo, by_digest)

    skopeo("delete", TLS_OFF, ref)

    for gone in (ref, by_digest):
        result = skopeo("inspect", TLS_OFF, "--raw", gone, check=False)
        assert result.returncode != 0, f"{gone} still inspectable after delete"
        assert "manifest unknown" in result.stderr.lower(), result.stderr
