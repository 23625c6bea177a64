"""A cache rule end to end: `portside cache create` on a running server, then `docker pull`
and `skopeo copy` through it from the reference registry as upstream; concurrent first pulls
fetch each blob once; the upstream stopped, what is cached is still served and what is not
answers an error naming the rule."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.registry_client import digest_of

from .cli_server import (
    ADMIN_PASSWORD,
    ContainerTools,
    container_tools,
    secrets_printed,
    start_cli_server,
    stop_and_check,
)
from .clients import Cli, Registry, ServerProcess, free_port, remove_tree
from .conftest import portside_executable
from .images import (
    build_multiarch_index,
    read_docker_archive,
    write_docker_archive,
    write_oci_layout,
)
from .upstream import Upstream, reference_upstream

TLS_OFF = "--tls-verify=false"


@dataclass(frozen=True)
class Setup:
    """The upstream, the Portside serving it under `hub/*`, and the tools."""

    upstream: Upstream
    portside: Registry
    server: ServerProcess
    tools: ContainerTools


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A reference registry upstream; Portside (one worker, loopback upstreams allowed) with
    the rule `hub/*` ← `UPSTREAM/library/*` created by the real CLI."""
    workdir = tmp_path_factory.mktemp("cache")
    with reference_upstream(workdir / "upstream") as upstream:
        port = free_port()
        (workdir / "data").mkdir()
        argv = [portside_executable(), "serve", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--data-dir", str(workdir / "data"), "--workers", "1"]
        env = {
            "PORTSIDE_ACCESS_LOG": "true",
            "PORTSIDE_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "PORTSIDE_ALLOW_PRIVATE_NETWORK_TARGETS": "true",
        }
        log_path = workdir / "portside.log"
        server = ServerProcess.start("portside", argv, log_path, cwd=workdir, env=env)
        host = f"127.0.0.1:{port}"
        portside = Registry("portside", host, f"http://{host}", workdir / "data", log_path)
        server.wait_ready(lambda: httpx.get(f"{portside.url}/v2/", timeout=2).status_code == 200)
        cli = Cli(
            (portside_executable(),),
            env={"PORTSIDE_SERVER": portside.url, "PORTSIDE_ADMIN_PASSWORD": ADMIN_PASSWORD},
        )
        source = f"{upstream.registry.host}/library/*"
        cli("cache", "create", "-r", "default", "-n", "hub-library",
            "--source-repo", source, "--target-repo", "hub/*")  # fmt: skip
        assert "hub-library" in cli("cache", "list", "-r", "default").stdout
        tools = container_tools(portside)
        try:
            yield Setup(upstream, portside, server, tools)
        finally:
            server.stop()
            remove_tree(tools.root)
            text = log_path.read_text()
            assert "Traceback" not in text, text[-4000:]


def to_upstream(setup: Setup, tmp_path: Path, repository: str, tag: str) -> list[bytes]:
    """A two-layer image copied into the upstream by skopeo; its layers."""
    archive = write_docker_archive(
        tmp_path / f"{tag}.tar",
        f"example.invalid/cache/source:{tag}",
        [{"app/data.bin": os.urandom(64 << 10)}, {"app/VERSION": tag.encode()}],
    )
    dest = f"docker://{setup.upstream.registry.host}/{repository}:{tag}"
    setup.tools.skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive.path}", dest)
    return list(archive.layers)


def test_docker_pulls_a_nested_repository_through_the_rule(
    setup: Setup, dockerd: Cli, tmp_path: Path
) -> None:
    to_upstream(setup, tmp_path, "library/team/app", "v1")
    ref = f"{setup.portside.host}/hub/team/app:v1"
    dockerd("pull", ref)
    upstream_id = setup.tools.skopeo(
        "inspect", TLS_OFF, "--format", "{{.Digest}}",
        f"docker://{setup.upstream.registry.host}/library/team/app:v1",
    ).stdout.strip()  # fmt: skip
    assert (
        upstream_id in dockerd("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout
    )

    # Pushing under the rule's target is refused, with the rule named.
    pushed = dockerd("push", ref, check=False)
    assert pushed.returncode != 0 and "hub-library" in pushed.stderr + pushed.stdout


def test_concurrent_first_pulls_fetch_each_blob_once(setup: Setup, tmp_path: Path) -> None:
    layer = os.urandom(8 << 20)
    setup.upstream.push_image("library/big", "v1", [layer])
    errors: list[BaseException] = []

    def pull(n: int) -> None:
        try:
            setup.tools.skopeo(
                "copy", "--src-tls-verify=false",
                f"docker://{setup.portside.host}/hub/big:v1", f"dir:{tmp_path / str(n)}",
            )  # fmt: skip
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=pull, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    digest = digest_of(layer)
    for n in range(2):
        assert (tmp_path / str(n) / digest.split(":")[1]).read_bytes() == layer
    assert setup.upstream.requests("GET", f"blobs/{digest}") == 1


def test_an_index_is_cached_and_its_platforms_fetched_when_asked(
    setup: Setup, tmp_path: Path
) -> None:
    index = build_multiarch_index(("amd64", "arm64"))
    layout = tmp_path / "layout"
    write_oci_layout(layout, index.index, index.blobs(), "v1")
    upstream_ref = f"docker://{setup.upstream.registry.host}/library/multi:v1"
    setup.tools.skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:v1", upstream_ref)

    source = f"docker://{setup.portside.host}/hub/multi:v1"
    served = setup.tools.skopeo("inspect", TLS_OFF, "--raw", source).stdout.encode()
    assert served == index.index.data
    # One platform, as `docker pull` takes it: only its manifest and blobs are fetched.
    arm = index.image_for("arm64")
    one = setup.tools.skopeo(
        "inspect", TLS_OFF, "--override-arch", "arm64", "--override-os", "linux", source
    )
    assert json.loads(one.stdout)["Layers"] == [layer.digest for layer in arm.layers]
    amd = index.image_for("amd64")
    assert setup.upstream.requests("GET", f"manifests/{amd.manifest.digest}") == 0
    # Every platform, as `skopeo copy --all` takes them.
    back = tmp_path / "back"
    setup.tools.skopeo("copy", "--all", "--src-tls-verify=false", source, f"oci:{back}:v1")
    for image in index.images:
        for blob in image.blobs():
            stored = back / "blobs" / "sha256" / blob.hex
            assert stored.read_bytes() == blob.data


def test_skopeo_copies_through_the_rule_and_again_with_the_upstream_stopped(
    setup: Setup, dockerd: Cli, tmp_path: Path
) -> None:
    layers = to_upstream(setup, tmp_path, "library/tool", "v1")
    source = f"docker://{setup.portside.host}/hub/tool:v1"
    setup.tools.skopeo(
        "copy", "--src-tls-verify=false", source, f"docker-archive:{tmp_path / 'a.tar'}"
    )
    assert read_docker_archive(tmp_path / "a.tar")[1] == layers  # byte-identical layers

    setup.upstream.server.stop()
    setup.tools.skopeo(
        "copy", "--src-tls-verify=false", source, f"docker-archive:{tmp_path / 'b.tar'}"
    )
    assert read_docker_archive(tmp_path / "b.tar")[1] == layers
    # What is not cached fails with a message that names the rule and the upstream.
    failed = dockerd("pull", f"{setup.portside.host}/hub/tool:v2", check=False)
    assert failed.returncode != 0, failed.stdout
    assert "hub-library" in failed.stderr and setup.upstream.registry.host in failed.stderr
    inspected = setup.tools.skopeo(
        "inspect", TLS_OFF, f"docker://{setup.portside.host}/hub/tool:v2", check=False
    )
    assert inspected.returncode != 0
    assert "hub-library" in inspected.stderr and setup.upstream.registry.host in inspected.stderr


def test_a_rule_with_a_credential_set_pulls_from_an_authenticated_upstream(
    setup: Setup, tmp_path: Path
) -> None:
    (tmp_path / "secured").mkdir()
    secured = start_cli_server(tmp_path / "secured")
    try:
        admin = secrets_printed(
            secured.run("registry", "update", "default", "--admin-enabled", "true").stdout
        )
        host = secured.registry.host
        archive = write_docker_archive(
            tmp_path / "authed.tar",
            "example.invalid/cache/authed:v1",
            [{"app/data.bin": os.urandom(32 << 10)}],
        )
        setup.tools.skopeo(
            "copy", "--dest-tls-verify=false", "--dest-creds", f"default:{admin['password']}",
            f"docker-archive:{archive.path}", f"docker://{host}/team/app:v1",
        )  # fmt: skip
        cli = Cli(
            (portside_executable(),),
            env={"PORTSIDE_SERVER": setup.portside.url, "PORTSIDE_ADMIN_PASSWORD": ADMIN_PASSWORD},
        )
        password = admin["password"]
        cli("credential-set", "create", "-r", "default", "-n", "secured-admin",
            "--login-server", host, "--username", "default", "--password", password)  # fmt: skip
        cli("cache", "create", "-r", "default", "-n", "secured", "--cred-set", "secured-admin",
            "--source-repo", f"{host}/team/*", "--target-repo", "secured/*")  # fmt: skip
        cli("cache", "create", "-r", "default", "-n", "secured-anonymous",
            "--source-repo", f"{host}/team/*", "--target-repo", "anonymous/*")  # fmt: skip

        pulled = tmp_path / "pulled.tar"
        source = f"docker://{setup.portside.host}/secured/app:v1"
        setup.tools.skopeo("copy", "--src-tls-verify=false", source, f"docker-archive:{pulled}")
        assert read_docker_archive(pulled)[1] == list(archive.layers)

        refused = setup.tools.skopeo(
            "inspect", TLS_OFF, f"docker://{setup.portside.host}/anonymous/app:v1", check=False
        )
        assert refused.returncode != 0 and "secured-anonymous" in refused.stderr
    finally:
        stop_and_check(secured)
