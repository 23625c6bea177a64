"""Starting, stopping and measuring the two registries under test.

Both run on loopback in their own directory under one parent, so they share the storage medium.
Each runs in its own session (so its own process group, workers included) and is stopped by
signalling that group: `portside serve --workers N` forks workers, and signalling the parent
alone could leave them running.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.process_groups import stop_group

__all__ = ["Server", "free_port", "start_portside", "start_reference"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running registry process (and its children, for multi-process servers)."""

    name: str
    argv: list[str]
    workdir: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> float:
        """Start the process; returns seconds until `GET /v2/` first answered 200."""
        log = open(self.workdir / f"{self.name}.log", "ab")  # noqa: SIM115 - lives with process
        started = time.perf_counter()
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        log.close()
        deadline = started + timeout
        with httpx.Client(timeout=1.0) as client:
            while time.perf_counter() < deadline:
                if self.process.poll() is not None:
                    self.stop()  # the leader is gone; its group may not be
                    raise RuntimeError(f"{self.name} exited; see {self.workdir}/{self.name}.log")
                try:
                    if client.get(f"{self.url}/v2/").status_code == 200:
                        return time.perf_counter() - started
                except httpx.TransportError:
                    pass
                time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout}s")

    def stop(self, grace: float = 20.0) -> None:
        """Stop the server and its process group (its own session, made by `start`): see
        `tests.process_groups.stop_group`, which the end-to-end tests stop servers with too."""
        if self.process is not None:
            stop_group(self.process, grace)

    def pids(self) -> list[int]:
        """The server's process and its descendants."""
        if self.process is None:
            return []
        found = [self.process.pid]
        frontier = [self.process.pid]
        while frontier:
            parent = frontier.pop()
            children = Path(f"/proc/{parent}/task/{parent}/children")
            try:
                kids = [int(p) for p in children.read_text().split()]
            except OSError:
                kids = []
            found.extend(kids)
            frontier.extend(kids)
        return found

    def rss_by_process(self) -> dict[int, int]:
        """Current resident set size in bytes of each process of the server.

        A page shared by several processes (copy-on-write after a fork, a shared library)
        counts in each one's RSS: summed over a forked server's processes, it counts shared
        pages once per process. `pss_by_process` sums to what the server really holds."""
        return self._proc_field("status", "VmRSS:")

    def pss_by_process(self) -> dict[int, int]:
        """Current proportional set size in bytes of each process of the server: a page
        shared by N processes counts 1/N in each, so the sum over the server counts it once."""
        return self._proc_field("smaps_rollup", "Pss:")

    def _proc_field(self, name: str, field: str) -> dict[int, int]:
        """The kB value of the line starting with `field` in /proc/PID/`name`, in bytes, for
        each process of the server (those gone meanwhile are left out)."""
        sizes = {}
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
                    if line.startswith(field):
                        sizes[pid] = int(line.split()[1]) * 1024
                        break
            except OSError:
                continue
        return sizes


def start_portside(root: Path, workers: int | None, admin_password: str | None = None) -> Server:
    """Portside on its embedded defaults (SQLite + filesystem) in `root`, with `workers`
    worker processes (None: `portside serve`'s default) and the given administrator password."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    portside = str(Path(sys.executable).parent / "portside")
    argv = [portside, "serve", "--port", str(port), "--data-dir", str(root / "data")]
    if workers is not None:
        argv += ["--workers", str(workers)]
    env = {"PORTSIDE_LOG_LEVEL": "warning"}
    if admin_password is not None:
        env["PORTSIDE_ADMIN_PASSWORD"] = admin_password
    return Server("portside", argv, root, port, env=env)


def start_reference(root: Path) -> Server:
    """distribution (Debian docker-registry) with filesystem storage in `root`."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        "  delete:\n    enabled: true\n"
        "  maintenance:\n    uploadpurging:\n      enabled: false\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    return Server("reference", ["docker-registry", "serve", str(config)], root, port)
