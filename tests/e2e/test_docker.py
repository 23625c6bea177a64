"""Docker engine against the registry: push, pull back, shared layers, pull by digest."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .clients import Cli, Registry
from .images import DOCKER_MANIFEST

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

REPOSITORY = "warrantydept/customersubmissions/web"
PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: (\d+)")


@dataclass(frozen=True)
class PushedImage:
    """An image built locally and pushed: its reference, local image id and manifest digest."""

    ref: str
    image_id: str
    digest: str
    push_output: str


def image_id(docker: Cli, ref: str) -> str:
    """The local image id (config digest) of `ref`."""
    return docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def push(docker: Cli, ref: str) -> tuple[str, str]:
    """Push `ref`; return (manifest digest reported by docker, full push output)."""
    output = docker("push", ref).stdout
    match = PUSH_DIGEST.search(output)
    assert match, f"no digest in docker push output:\n{output}"
    return match.group(1), output


def build(docker: Cli, context: Path, dockerfile: str, ref: str) -> str:
    """Build `dockerfile` in `context` with the legacy builder, tag it `ref`, return its id."""
    (context / "Dockerfile").write_text(dockerfile)
    docker("build", "--tag", ref, str(context))
    return image_id(docker, ref)


def remove_local(docker: Cli, *refs: str) -> None:
    """Remove local images by reference; fail if any is still present afterwards."""
    docker("rmi", "--force", *refs, check=False)
    for ref in refs:
        assert docker("image", "inspect", ref, check=False).returncode != 0, f"{ref} still here"


def ensure_local(docker: Cli, ref: str) -> None:
    """Make sure `ref` exists in the engine (pull it if a previous test removed it)."""
    if docker("image", "inspect", ref, check=False).returncode != 0:
        docker("pull", ref)


@pytest.fixture(scope="module")
def pushed_v1(
    dockerd: Cli, registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> PushedImage:
    """A two-layer FROM-scratch image built by docker and pushed as :v1."""
    context = tmp_path_factory.mktemp("docker-v1")
    (context / "index.html").write_text("<h1>warranty claims</h1>\n")
    (context / "app.conf").write_text("listen = 8080\nname = customersubmissions\n")
    ref = registry.ref(REPOSITORY, "v1")
    local_id = build(
        dockerd, context, "FROM scratch\nCOPY index.html /srv/\nCOPY app.conf /etc/\n", ref
    )
    digest, output = push(dockerd, ref)
    return PushedImage(ref=ref, image_id=local_id, digest=digest, push_output=output)


def test_push_reports_digest_the_registry_serves(
    pushed_v1: PushedImage, registry: Registry
) -> None:
    """The digest docker printed is the one the registry gives for the tag."""
    response = httpx.get(
        f"{registry.url}/v2/{REPOSITORY}/manifests/v1",
        headers={"Accept": DOCKER_MANIFEST},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Docker-Content-Digest"] == pushed_v1.digest
    manifest = response.json()
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert manifest["config"]["digest"] == pushed_v1.image_id
    assert len(manifest["layers"]) == 2


def test_pull_after_rmi_gives_same_image(dockerd: Cli, pushed_v1: PushedImage) -> None:
    """rmi the image, pull it back from the three-level repository: the image id is unchanged."""
    remove_local(dockerd, pushed_v1.ref)
    dockerd("pull", pushed_v1.ref)
    assert image_id(dockerd, pushed_v1.ref) == pushed_v1.image_id
    repo_digests = dockerd(
        "image", "inspect", "--format", "{{json .RepoDigests}}", pushed_v1.ref
    ).stdout
    name = pushed_v1.ref.rsplit(":", 1)[0]
    assert f"{name}@{pushed_v1.digest}" in repo_digests


def test_pull_by_digest(dockerd: Cli, registry: Registry, pushed_v1: PushedImage) -> None:
    """Pulling host/repo@sha256:... gives the same image id as the tag did."""
    by_digest = registry.ref(REPOSITORY, pushed_v1.digest)
    remove_local(dockerd, pushed_v1.ref, by_digest)
    dockerd("pull", by_digest)
    assert image_id(dockerd, by_digest) == pushed_v1.image_id


def test_second_tag_reuses_shared_layers(
    dockerd: Cli,
    registry: Registry,
    pushed_v1: PushedImage,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """An image built on top of v1 pushes only its new layer; the two shared ones exist."""
    ensure_local(dockerd, pushed_v1.ref)
    context = tmp_path_factory.mktemp("docker-v2")
    (context / "release.txt").write_text("release 2\n")
    ref_v2 = registry.ref(REPOSITORY, "v2")
    v2_id = build(dockerd, context, f"FROM {pushed_v1.ref}\nCOPY release.txt /srv/\n", ref_v2)
    assert v2_id != pushed_v1.image_id

    digest_v2, output = push(dockerd, ref_v2)

    assert output.count("Layer already exists") == 2, output
    assert output.count("Pushed") == 1, output
    assert digest_v2 != pushed_v1.digest

    manifests = {}
    for tag in ("v1", "v2"):
        response = httpx.get(
            f"{registry.url}/v2/{REPOSITORY}/manifests/{tag}",
            headers={"Accept": DOCKER_MANIFEST},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        manifests[tag] = response.json()
    v1_layers = [layer["digest"] for layer in manifests["v1"]["layers"]]
    v2_layers = [layer["digest"] for layer in manifests["v2"]["layers"]]
    assert v2_layers[:2] == v1_layers
    assert len(v2_layers) == 3

    tags = httpx.get(f"{registry.url}/v2/{REPOSITORY}/tags/list", timeout=10)
    assert tags.status_code == 200, tags.text
    assert {"v1", "v2"} <= set(tags.json()["tags"])
