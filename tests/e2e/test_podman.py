"""Podman against the registry: push an OCI image and a Docker-format image, pull them back."""

from __future__ import annotations

from pathlib import Path

import pytest

from .clients import Cli, Registry
from .images import write_docker_archive

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

TLS_OFF = "--tls-verify=false"


def inspect(podman: Cli, ref: str, field: str) -> str:
    """One field of `podman image inspect` for `ref`."""
    return podman("image", "inspect", "--format", "{{." + field + "}}", ref).stdout.strip()


def push_rmi_pull(podman: Cli, ref: str, digest_file: Path, *push_args: str) -> str:
    """Push `ref`, remove it locally, pull it back; return the digest podman pushed."""
    podman("push", TLS_OFF, "--digestfile", str(digest_file), *push_args, ref)
    pushed_digest = digest_file.read_text().strip()
    assert pushed_digest.startswith("sha256:"), pushed_digest
    podman("rmi", "--force", ref)
    assert podman("image", "exists", ref, check=False).returncode != 0
    podman("pull", TLS_OFF, ref)
    return pushed_digest


def test_build_push_pull_roundtrip(podman: Cli, registry: Registry, tmp_path: Path) -> None:
    """An image built by podman FROM scratch survives push + rmi + pull (OCI manifest)."""
    (tmp_path / "claim.json").write_text('{"claim": 42}\n')
    (tmp_path / "motd").write_text("served by podman\n")
    (tmp_path / "Containerfile").write_text(
        "FROM scratch\nCOPY claim.json /data/\nCOPY motd /etc/\n"
    )
    ref = registry.ref("warrantydept/podman/built", "v1")
    podman("build", "--tag", ref, "--file", str(tmp_path / "Containerfile"), str(tmp_path))
    built_id = inspect(podman, ref, "Id")

    pushed_digest = push_rmi_pull(podman, ref, tmp_path / "digest", "--format", "oci")

    assert inspect(podman, ref, "Id") == built_id
    assert inspect(podman, ref, "Digest") == pushed_digest
    by_digest = registry.ref("warrantydept/podman/built", pushed_digest)
    podman("pull", TLS_OFF, by_digest)
    assert inspect(podman, by_digest, "Id") == built_id


def test_load_docker_archive_push_pull(podman: Cli, registry: Registry, tmp_path: Path) -> None:
    """A hand-made docker-archive loads, pushes as Docker v2 schema 2, and pulls back intact."""
    ref = registry.ref("warrantydept/podman/loaded", "v1")
    archive = write_docker_archive(
        tmp_path / "image.tar",
        ref,
        [{"srv/a.txt": b"first layer\n"}, {"srv/b.txt": b"second layer\n"}],
    )
    podman("load", "--input", str(archive.path))
    assert inspect(podman, ref, "Id") == archive.image_id.removeprefix("sha256:")

    pushed_digest = push_rmi_pull(podman, ref, tmp_path / "digest", "--format", "v2s2")

    assert inspect(podman, ref, "Id") == archive.image_id.removeprefix("sha256:")
    assert inspect(podman, ref, "Digest") == pushed_digest
    diff_ids = podman("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref).stdout
    for diff_id in archive.diff_ids:
        assert diff_id in diff_ids
