"""Fixtures for the end-to-end suite: a real registry process and real clients driving it.

The registry under test is Portside by default. `PORTSIDE_E2E_TARGET=reference` runs the same
tests against the reference registry (Debian `docker-registry`, distribution 2.8.2) instead, to
compare behaviour. Every server started here listens on 127.0.0.1 only and is stopped by its own
process id when the session ends.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import httpx
import pytest

from .clients import (
    Cli,
    Registry,
    ServerProcess,
    e2e_target,
    free_port,
    kill_pid_file,
    remove_tree,
    require_tool,
)

READY_TIMEOUT = 30.0


def short_tmpdir(prefix: str) -> Path:
    """A fresh directory under /tmp with a short path (unix socket paths must stay < 108 bytes)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def portside_executable() -> str:
    """The `portside` entry point of the venv running the tests (or the one on PATH)."""
    beside_python = Path(sys.executable).parent / "portside"
    if beside_python.exists():
        return str(beside_python)
    found = require_tool("portside")
    return found


def reference_config(data_dir: Path, port: int) -> str:
    """A distribution 2.8 config: filesystem storage, deletes on, loopback only, no auth."""
    return f"""\
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {data_dir}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
"""


def start_registry(kind: str, workdir: Path) -> tuple[ServerProcess, Registry]:
    """Start the selected registry in `workdir` on a free loopback port."""
    port = free_port()
    data_dir = workdir / "data"
    data_dir.mkdir()
    log_path = workdir / "registry.log"
    if kind == "reference":
        executable = require_tool("docker-registry")
        config = workdir / "config.yml"
        config.write_text(reference_config(data_dir, port))
        argv = [executable, "serve", str(config)]
    else:
        argv = [
            portside_executable(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            # Two workers, as on a real 2-core host: requests of one client land on both.
            "--workers",
            "2",
        ]
    # One log line per request, so a failure report shows which request went wrong.
    env = {"PORTSIDE_ACCESS_LOG": "true"} if kind == "portside" else {}
    server = ServerProcess.start(f"{kind} registry", argv, log_path, cwd=workdir, env=env)
    host = f"127.0.0.1:{port}"
    registry = Registry(kind, host, f"http://{host}", data_dir, log_path)

    def answers() -> bool:
        return httpx.get(f"{registry.url}/v2/", timeout=2.0).status_code == 200

    server.wait_ready(answers, timeout=READY_TIMEOUT)
    return server, registry


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The registry under test, running for the whole session."""
    server, handle = start_registry(e2e_target(), tmp_path_factory.mktemp("registry"))
    try:
        yield handle
    finally:
        server.stop()
    if handle.kind == "portside":
        # A worker that died, or any traceback, is a failure even if every client succeeded.
        log = handle.log_path.read_text()
        assert "Unexpected exit from worker" not in log, handle.log_tail()
        assert "Traceback" not in log, handle.log_tail()


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Cli]:
    """A private Docker engine (vfs, no networking); yields a `docker` runner bound to it."""
    docker = require_tool("docker")
    daemon = require_tool("dockerd")
    root = short_tmpdir("pse2e-docker-")
    sock = root / "docker.sock"
    argv = [
        daemon,
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        "--storage-driver=vfs",
        "-H",
        f"unix://{sock}",
        "--data-root",
        str(root / "data"),
        "--exec-root",
        str(root / "exec"),
        "--pidfile",
        str(root / "docker.pid"),
    ]
    server = ServerProcess.start("dockerd", argv, root / "dockerd.log")
    (root / "config").mkdir()
    cli = Cli(
        (docker,),
        env={
            "DOCKER_HOST": f"unix://{sock}",
            "DOCKER_CONFIG": str(root / "config"),
            "DOCKER_BUILDKIT": "0",
            "DOCKER_CLI_HINTS": "false",
        },
    )
    try:
        server.wait_ready(lambda: cli("info", check=False, timeout=10).returncode == 0, 60.0)
        yield cli
    finally:
        server.stop(grace=30.0)
        kill_pid_file(root / "exec" / "containerd" / "containerd.pid", marker=str(root))
        remove_tree(root)


def containers_env(root: Path, registry: Registry) -> dict[str, str]:
    """Environment that isolates podman and skopeo from the machine's containers config.

    The registries.conf it writes marks the registry under test as insecure (plain HTTP, no TLS
    verification), so even a command without `--tls-verify=false` talks to it.
    """
    conf = root / "containers.conf"
    conf.write_text('[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n')
    registries = root / "registries.conf"
    registries.write_text(
        "unqualified-search-registries = []\n\n"
        f'[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n'
    )
    auth = root / "auth.json"
    auth.write_text('{"auths": {}}\n')
    return {
        "CONTAINERS_CONF": str(conf),
        "CONTAINERS_REGISTRIES_CONF": str(registries),
        "REGISTRY_AUTH_FILE": str(auth),
        "TMPDIR": str(root / "tmp"),
    }


@pytest.fixture(scope="session")
def podman(registry: Registry) -> Iterator[Cli]:
    """A `podman` runner with its own vfs storage under a scratch directory."""
    executable = require_tool("podman")
    root = short_tmpdir("pse2e-podman-")
    (root / "tmp").mkdir()
    prefix = (
        executable,
        "--storage-driver",
        "vfs",
        "--root",
        str(root / "root"),
        "--runroot",
        str(root / "run"),
        "--tmpdir",
        str(root / "libpod"),
    )
    try:
        yield Cli(prefix, env=containers_env(root, registry))
    finally:
        remove_tree(root)


@pytest.fixture(scope="session")
def skopeo(registry: Registry) -> Iterator[Cli]:
    """A `skopeo` runner (no signature policy, isolated config, scratch temp dir)."""
    executable = require_tool("skopeo")
    root = short_tmpdir("pse2e-skopeo-")
    (root / "tmp").mkdir()
    try:
        env = containers_env(root, registry)
        prefix = (
            executable,
            "--insecure-policy",
            "--registries-conf",
            env["CONTAINERS_REGISTRIES_CONF"],
        )
        yield Cli(prefix, env=env)
    finally:
        remove_tree(root)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed e2e test, attach the tail of the registry log to the report."""
    report: pytest.TestReport = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        handle = funcargs.get("registry")
        if isinstance(handle, Registry):
            report.sections.append((f"{handle.kind} registry log (tail)", handle.log_tail(80)))
    return report
