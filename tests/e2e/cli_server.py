"""A credentials-only `portside serve` and the real `portside` CLI pointed at it.

The server listens on a free loopback port with `anonymous_loopback` off and the deployment
administrator's password set in its environment (`PORTSIDE_ADMIN_PASSWORD`), so every client,
the CLI included, must sign in. The CLI runs as a subprocess of the venv's `portside` entry
point, with `PORTSIDE_SERVER` and `PORTSIDE_ADMIN_PASSWORD` in its environment.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .clients import Cli, Registry, ServerProcess, free_port, require_tool
from .conftest import containers_env, portside_executable, short_tmpdir

ADMIN_PASSWORD = "e2e-deployment-admin-7Qx2"
"""The deployment administrator's password the server is started with."""

NULL_GUID = "00000000-0000-0000-0000-000000000000"
_SECRET_LINE = re.compile(r"^(password[12]?|secret\d+): (\S+)", re.MULTILINE)


@dataclass(frozen=True)
class CliServer:
    """A running credentials-only server, its log, and the CLI bound to it."""

    registry: Registry
    process: ServerProcess
    portside: Cli

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """`portside ARGS` (raises ToolError on a non-zero exit unless `check=False`)."""
        return self.portside(*args, **kwargs)

    def json(self, *args: str, **kwargs: Any) -> Any:
        """`portside ARGS -o json`, its stdout decoded."""
        return json.loads(self.portside(*args, "-o", "json", **kwargs).stdout)

    def fails(self, *args: str, **kwargs: Any) -> str:
        """`portside ARGS`, which must exit with status 1 with a readable error: its stderr."""
        result = self.portside(*args, check=False, **kwargs)
        assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
        assert result.stderr.startswith("Error: "), result.stderr
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        return result.stderr


def secrets_printed(stdout: str) -> dict[str, str]:
    """The `name: value` lines the CLI prints for generated secrets in table output."""
    return dict(_SECRET_LINE.findall(stdout))


def start_cli_server(workdir: Path, extra_env: dict[str, str] | None = None) -> CliServer:
    """Start `portside serve` (2 workers, credentials required) in `workdir`, with
    `extra_env` (more PORTSIDE_* settings) in its environment."""
    port = free_port()
    data_dir = workdir / "data"
    data_dir.mkdir()
    log_path = workdir / "registry.log"
    argv = [portside_executable(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--data-dir", str(data_dir), "--workers", "2"]
    env = {
        "PORTSIDE_ACCESS_LOG": "true",
        "PORTSIDE_ANONYMOUS_LOOPBACK": "false",
        "PORTSIDE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **(extra_env or {}),
    }
    process = ServerProcess.start("cli portside", argv, log_path, cwd=workdir, env=env)
    host = f"127.0.0.1:{port}"
    registry = Registry("portside", host, f"http://{host}", data_dir, log_path)
    process.wait_ready(lambda: httpx.get(f"{registry.url}/v2/", timeout=2.0).status_code == 401)
    portside = Cli(
        (portside_executable(),),
        env={
            "PORTSIDE_SERVER": registry.url,
            "PORTSIDE_ADMIN_PASSWORD": ADMIN_PASSWORD,
            # Empty values count as unset for click: nothing from the caller's shell leaks in.
            "PORTSIDE_USERNAME": "",
            "PORTSIDE_PASSWORD": "",
            "PORTSIDE_CA_CERT": "",
        },
        cwd=workdir,
        timeout=60.0,
    )
    return CliServer(registry, process, portside)


def stop_and_check(server: CliServer) -> None:
    """Stop the server by its pid; its log must hold no traceback and no dead worker."""
    server.process.stop()
    log = server.registry.log_path.read_text()
    assert "Traceback" not in log, server.registry.log_tail(120)
    assert "Unexpected exit from worker" not in log, server.registry.log_tail(120)


def docker_with_config(dockerd: Cli, config_dir: Path) -> Cli:
    """The `dockerd` fixture's docker CLI with its own configuration folder (DOCKER_CONFIG)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    return Cli(dockerd.prefix, env={**dockerd.env, "DOCKER_CONFIG": str(config_dir)})


def docker_login(
    docker: Cli, host: str, username: str, password: str
) -> subprocess.CompletedProcess[str]:
    """`docker login` with the password on stdin (never raises: check the result)."""
    return docker(
        "login", "--username", username, "--password-stdin", host, input=password, check=False
    )


def logged_in(result: subprocess.CompletedProcess[str]) -> bool:
    """Whether a `docker login` succeeded."""
    return result.returncode == 0 and "Login Succeeded" in result.stdout


def refused(result: subprocess.CompletedProcess[str]) -> bool:
    """Whether a client command failed because the registry refused it."""
    text = (result.stderr + result.stdout).lower()
    words = ("denied", "unauthorized", "authentication required", "forbidden", "401", "403")
    return result.returncode != 0 and any(word in text for word in words)


@dataclass(frozen=True)
class ContainerTools:
    """podman and skopeo runners isolated from the machine's configuration."""

    podman: Cli
    skopeo: Cli
    root: Path


def container_tools(registry: Registry) -> ContainerTools:
    """podman (vfs storage in a scratch folder) and skopeo for `registry` (plain HTTP)."""
    podman_exe, skopeo_exe = require_tool("podman"), require_tool("skopeo")
    root = short_tmpdir("pse2e-cli-")
    (root / "tmp").mkdir()
    env = containers_env(root, registry)
    storage = ["--storage-driver", "vfs", "--root", str(root / "root")]
    storage += ["--runroot", str(root / "run"), "--tmpdir", str(root / "libpod")]
    podman = Cli((podman_exe, *storage), env=env)
    registries = env["CONTAINERS_REGISTRIES_CONF"]
    skopeo = Cli((skopeo_exe, "--insecure-policy", "--registries-conf", registries), env=env)
    return ContainerTools(podman, skopeo, root)
