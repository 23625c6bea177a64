"""Real clients logging in: docker as admin user, token, service principal and with the
null-GUID refresh token; podman and skopeo with `--creds`; anonymous access refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .clients import Cli, Registry, require_tool
from .conftest import containers_env, portside_executable, short_tmpdir
from .secured import Identities, refresh_token, start_secured
from .test_docker import build, image_id, push, remove_local

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NULL_GUID = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Identities]]:
    """A Portside that requires credentials, with seeded identities."""
    server, registry, identities = start_secured(
        portside_executable(), tmp_path_factory.mktemp("secured")
    )
    try:
        yield registry, identities
    finally:
        server.stop()
    log = registry.log_path.read_text()
    assert "Traceback" not in log, registry.log_tail()


def login(docker: Cli, registry: Registry, username: str, password: str) -> None:
    """`docker login` with the password on stdin."""
    result = docker(
        "login", "--username", username, "--password-stdin", registry.host, input=password
    )
    assert "Login Succeeded" in result.stdout


@pytest.mark.parametrize("who", ["admin", "token", "principal", "refresh"])
def test_docker_push_and_pull_as_each_identity(
    dockerd: Cli, secured: tuple[Registry, Identities], tmp_path: Path, who: str
) -> None:
    registry, identities = secured
    if who == "refresh":
        username, password = NULL_GUID, refresh_token(registry, *identities.admin)
    else:
        username, password = getattr(identities, who)
    ref = registry.ref(f"e2e/{who}", "v1")
    (tmp_path / "payload.txt").write_text(f"pushed by {who}\n")
    built = build(dockerd, tmp_path, "FROM scratch\nCOPY payload.txt /\n", ref)
    login(dockerd, registry, username, password)
    try:
        push(dockerd, ref)
        remove_local(dockerd, ref)
        dockerd("pull", ref)
        assert image_id(dockerd, ref) == built
    finally:
        dockerd("logout", registry.host, check=False)
        remove_local(dockerd, ref)


def test_docker_refuses_bad_password_and_anonymous_pull(
    dockerd: Cli, secured: tuple[Registry, Identities]
) -> None:
    registry, identities = secured
    bad = dockerd(
        "login",
        "-u",
        identities.admin[0],
        "--password-stdin",
        registry.host,
        input="wrong",
        check=False,
    )
    assert bad.returncode != 0
    assert "unauthorized" in (bad.stderr + bad.stdout).lower()
    anonymous = dockerd("pull", registry.ref("e2e/admin", "v1"), check=False)
    assert anonymous.returncode != 0
    assert "unauthorized" in anonymous.stderr.lower() or "denied" in anonymous.stderr.lower()


def test_pull_token_cannot_push(
    dockerd: Cli, secured: tuple[Registry, Identities], tmp_path: Path
) -> None:
    registry, identities = secured
    ref = registry.ref("e2e/readonly", "v1")
    (tmp_path / "payload.txt").write_text("read-only token\n")
    build(dockerd, tmp_path, "FROM scratch\nCOPY payload.txt /\n", ref)
    login(dockerd, registry, *identities.pull_token)
    try:
        refused = dockerd("push", ref, check=False)
        assert refused.returncode != 0
        assert "denied" in refused.stderr.lower() or "unauthorized" in refused.stderr.lower()
    finally:
        dockerd("logout", registry.host, check=False)
        remove_local(dockerd, ref)


@pytest.fixture(scope="module")
def tools(secured: tuple[Registry, Identities]) -> Iterator[tuple[Cli, Cli]]:
    """podman and skopeo runners isolated from the machine's configuration."""
    registry, _ = secured
    podman_exe, skopeo_exe = require_tool("podman"), require_tool("skopeo")
    root = short_tmpdir("pse2e-creds-")
    (root / "tmp").mkdir()
    env = containers_env(root, registry)
    podman = Cli(
        (
            podman_exe,
            "--storage-driver",
            "vfs",
            "--root",
            str(root / "root"),
            "--runroot",
            str(root / "run"),
            "--tmpdir",
            str(root / "libpod"),
        ),
        env=env,
    )
    skopeo = Cli(
        (skopeo_exe, "--insecure-policy", "--registries-conf", env["CONTAINERS_REGISTRIES_CONF"]),
        env=env,
    )
    yield podman, skopeo


def test_podman_and_skopeo_with_creds(
    secured: tuple[Registry, Identities], tools: tuple[Cli, Cli], tmp_path: Path
) -> None:
    registry, identities = secured
    podman, skopeo = tools
    creds = ":".join(identities.token)
    (tmp_path / "Containerfile").write_text("FROM scratch\nCOPY Containerfile /\n")
    ref = registry.ref("e2e/podman", "v1")
    podman("build", "--tag", ref, "--file", str(tmp_path / "Containerfile"), str(tmp_path))
    podman("push", "--tls-verify=false", "--creds", creds, ref)
    copied = registry.ref("e2e/skopeo", "copy")
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--src-creds",
        creds,
        "--dest-creds",
        ":".join(identities.principal),
        f"docker://{ref}",
        f"docker://{copied}",
    )
    tags = skopeo(
        "list-tags", "--tls-verify=false", "--creds", creds, f"docker://{registry.host}/e2e/skopeo"
    )
    assert "copy" in tags.stdout
    refused = skopeo(
        "inspect",
        "--tls-verify=false",
        "--creds",
        "ci-pusher:wrong",
        f"docker://{copied}",
        check=False,
    )
    assert refused.returncode != 0
    podman("rmi", "--force", ref, check=False)
    podman("pull", "--tls-verify=false", "--creds", creds, ref)
