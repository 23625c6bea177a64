"""A second registry on one machine, as the README's "Registries" section runs it, verbatim.

`portside serve` with no configuration (loopback, anonymous push and pull to the default
registry, the administrator password printed at first start); then `portside registry create
contoso`, `portside login -n contoso`, and the Docker CLI pushes to and pulls from the login
server `portside login` printed (`127.0.0.1:<port + 1>`): no hosts file, no TLS, no daemon
flag. The image lands in contoso, not in the default registry.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .cli_server import docker_with_config, stop_and_check
from .clients import Cli, Registry, ServerProcess, remove_tree
from .conftest import portside_executable, short_tmpdir
from .test_docker import build, image_id, push, remove_local

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

_PASSWORD = re.compile(r"^  password: (\S+)$", re.MULTILINE)
_LOGIN = re.compile(r"^Login Succeeded: (\S+) ", re.MULTILINE)


@dataclass(frozen=True)
class ReadmeServer:
    """`portside serve` as the README starts it, and the CLI as the README exports it."""

    registry: Registry
    process: ServerProcess
    portside: Cli


def _ports_with_room(room: int) -> int:
    """A loopback port that, with the `room` ports after it, was free a moment ago."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        try:
            for other in range(port, port + room + 1):
                with socket.socket() as trial:
                    trial.bind(("127.0.0.1", other))
        except OSError:
            continue
        return port
    raise RuntimeError("no free run of loopback ports")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReadmeServer]:
    """`portside serve --port P --data-dir ./data`, nothing else; the CLI with the password
    the first start printed."""
    workdir = tmp_path_factory.mktemp("readme")
    port = _ports_with_room(3)
    log_path = workdir / "registry.log"
    argv = [portside_executable(), "serve", "--port", str(port), "--data-dir", "./data"]
    env = {"PORTSIDE_ACCESS_LOG": "true"}
    process = ServerProcess.start("readme portside", argv, log_path, cwd=workdir, env=env)
    host = f"127.0.0.1:{port}"
    registry = Registry("portside", host, f"http://{host}", workdir / "data", log_path)
    try:
        process.wait_ready(lambda: httpx.get(f"{registry.url}/v2/").status_code == 200)
        found = _PASSWORD.search(log_path.read_text())
        assert found, registry.log_tail()
    except BaseException:
        process.stop()
        raise
    portside = Cli(
        (portside_executable(),),
        env={
            "PORTSIDE_SERVER": registry.url,
            "PORTSIDE_ADMIN_PASSWORD": found.group(1),
            "PORTSIDE_USERNAME": "",
            "PORTSIDE_PASSWORD": "",
            "PORTSIDE_CA_CERT": "",
        },
        cwd=workdir,
        timeout=60.0,
    )
    handle = ReadmeServer(registry, process, portside)
    yield handle
    stop_and_check(handle)  # type: ignore[arg-type]  # the same fields as a CliServer


@pytest.fixture(scope="module", autouse=True)
def registry(server: ReadmeServer) -> Registry:
    """The server's handle under the name conftest's hook attaches the log tail for."""
    return server.registry


@pytest.fixture(scope="module")
def docker(dockerd: Cli, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """The private engine's docker CLI with a configuration folder of this module's own."""
    folder = short_tmpdir("pse2e-readme-")
    try:
        yield docker_with_config(dockerd, folder / "config")
    finally:
        remove_tree(folder)


def _catalog(url: str, token: str | None = None) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(f"{url}/v2/_catalog", headers=headers, timeout=10.0)
    assert answer.status_code == 200, answer.text
    repositories: list[str] = answer.json()["repositories"]
    return repositories


def _catalog_token(server: ReadmeServer, login_server: str) -> str:
    """An access token for contoso's catalog, from the refresh token `portside login` issues."""
    exposed = server.portside("login", "-n", "contoso", "--expose-token").stdout
    refresh = httpx.post(
        f"http://{login_server}/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "service": login_server,
            "scope": "registry:catalog:*",
            "refresh_token": json.loads(exposed)["accessToken"],
        },
        timeout=10.0,
    )
    assert refresh.status_code == 200, refresh.text
    token: str = refresh.json()["access_token"]
    return token


def test_the_readme_path_to_a_second_registry_works_with_docker(
    server: ReadmeServer, docker: Cli, tmp_path: Path
) -> None:
    port = int(server.registry.host.rsplit(":", 1)[1])
    created = server.portside("registry", "create", "contoso", "--sku", "Premium").stdout
    assert f"127.0.0.1:{port + 1}" in created, created
    # `portside login` writes docker's config.json (DOCKER_CONFIG, as docker reads it).
    login = server.portside(
        "login", "-n", "contoso", extra_env={"DOCKER_CONFIG": docker.env["DOCKER_CONFIG"]}
    )
    found = _LOGIN.search(login.stdout)
    assert found, login.stdout
    login_server = found.group(1)
    assert login_server == f"127.0.0.1:{port + 1}"

    context = tmp_path / "image"
    context.mkdir()
    (context / "payload.txt").write_text("a second registry\n")
    ref = f"{login_server}/warrantydept/customersubmissions/web:v1"
    local_id = build(docker, context, "FROM scratch\nCOPY payload.txt /\n", ref)
    digest, _ = push(docker, ref)
    remove_local(docker, ref)
    docker("pull", ref)
    assert image_id(docker, ref) == local_id
    docker("pull", f"{login_server}/warrantydept/customersubmissions/web@{digest}")

    # In contoso, and not in the default registry (which anyone on loopback may list).
    token = _catalog_token(server, login_server)
    assert _catalog(f"http://{login_server}", token) == ["warrantydept/customersubmissions/web"]
    assert _catalog(server.registry.url) == []
    listed = server.portside("repository", "list", "-n", "contoso").stdout
    assert "warrantydept/customersubmissions/web" in listed
    # contoso's login server asks for credentials: without them docker is refused.
    anonymous = docker_with_config(docker, tmp_path / "anonymous")
    refused = anonymous("pull", ref, check=False)
    assert refused.returncode != 0
    remove_local(docker, ref)


def test_a_deleted_registry_closes_its_login_server(server: ReadmeServer) -> None:
    port = int(server.registry.host.rsplit(":", 1)[1])
    shown = server.portside("registry", "create", "fabrikam", "-o", "json").stdout
    login_server = json.loads(shown)["loginServer"]
    assert login_server.startswith("127.0.0.1:") and login_server != f"127.0.0.1:{port + 1}"
    _wait_until(lambda: _answers(login_server), "fabrikam's login server to open")
    server.portside("registry", "delete", "fabrikam", "--yes")
    _wait_until(lambda: not _answers(login_server), "fabrikam's login server to close")


def _answers(login_server: str) -> bool:
    try:
        return httpx.get(f"http://{login_server}/v2/", timeout=2.0).status_code == 401
    except httpx.TransportError:
        return False


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"waited {timeout:.0f} s for {what}")
