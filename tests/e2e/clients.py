"""Process plumbing for the end-to-end suite: finding tools, running them, starting servers.

Nothing here knows about a particular client; conftest.py wires these pieces into fixtures.
Every process started here is stopped by its own process id, never by name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.process_groups import stop_group

INSTALL_STEP = "scripts/install.sh --test"
DEFAULT_COMMAND_TIMEOUT = 90.0
TARGET_ENV = "PORTSIDE_E2E_TARGET"
TARGETS = ("portside", "reference")


def e2e_target() -> str:
    """Which registry the suite drives: "portside" (default) or "reference"."""
    target = os.environ.get(TARGET_ENV, "portside").strip().lower() or "portside"
    if target not in TARGETS:
        raise pytest.UsageError(f"{TARGET_ENV}={target!r}: expected one of {', '.join(TARGETS)}")
    return target


def require_tool(name: str) -> str:
    """Return the absolute path of executable `name`, or skip the test if it is missing.

    Under CI (`CI=true`) a missing tool fails the test instead, so that CI can never go green
    by skipping the end-to-end suite.
    """
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"`{name}` is not installed; run `{INSTALL_STEP}` to install the e2e test tools"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{message} (CI=true: a missing tool is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


class ToolError(RuntimeError):
    """A command exited non-zero; the message carries the command line, exit code and output."""

    def __init__(self, argv: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
        self.argv = list(argv)
        self.result = result
        super().__init__(
            f"command failed with exit code {result.returncode}: {' '.join(argv)}\n"
            f"--- stderr ---\n{result.stderr.strip()}\n--- stdout ---\n{result.stdout.strip()}"
        )


@dataclass(frozen=True)
class Cli:
    """Runs one command-line tool with a fixed argument prefix and a fixed environment.

    Calling it returns the CompletedProcess (text mode); a non-zero exit raises ToolError with
    stderr unless `check=False` is given.
    """

    prefix: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    timeout: float = DEFAULT_COMMAND_TIMEOUT

    def __call__(
        self,
        *args: str | os.PathLike[str],
        check: bool = True,
        timeout: float | None = None,
        cwd: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the tool with `args` appended to the prefix (`input` goes to its stdin)."""
        argv = [*self.prefix, *(os.fspath(a) for a in args)]
        env = {**os.environ, **self.env, **(extra_env or {})}
        result = subprocess.run(
            argv,
            env=env,
            cwd=cwd or self.cwd,
            stdin=subprocess.DEVNULL if input is None else None,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout or self.timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise ToolError(argv, result)
        return result


@dataclass(frozen=True)
class Registry:
    """A running registry: `host` is "127.0.0.1:PORT", `url` is "http://127.0.0.1:PORT"."""

    kind: str
    host: str
    url: str
    data_dir: Path
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the registry's log."""
        return tail(self.log_path, lines)

    def ref(self, repository: str, tag_or_digest: str) -> str:
        """A full image reference in this registry: host/repository:tag or host/repo@digest."""
        separator = "@" if ":" in tag_or_digest else ":"
        return f"{self.host}/{repository}{separator}{tag_or_digest}"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = 60) -> str:
    """Return the last `lines` lines of a text file (empty string if it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class ServerProcess:
    """A background process whose stdout and stderr go to `log_path`."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ServerProcess:
        """Start `argv` in its own session, logging to `log_path`."""
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        return cls(name=name, proc=proc, log_path=log_path)

    @property
    def pid(self) -> int:
        """The process id of the server."""
        return self.proc.pid

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the server's log."""
        return tail(self.log_path, lines)

    def wait_ready(self, probe: Callable[[], bool], timeout: float = 30.0) -> None:
        """Poll `probe` until it returns True; fail with the log tail on timeout or early exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                pytest.fail(
                    f"{self.name} exited with code {code} before it was ready; "
                    f"log {self.log_path}:\n{self.log_tail()}",
                    pytrace=False,
                )
            with contextlib.suppress(Exception):
                if probe():
                    return
            time.sleep(0.2)
        self.stop()
        pytest.fail(
            f"{self.name} did not become ready within {timeout:.0f} s; "
            f"log {self.log_path}:\n{self.log_tail()}",
            pytrace=False,
        )

    def stop(self, grace: float = 15.0) -> None:
        """Stop the process and its group (its own session): SIGTERM, then SIGKILL after
        `grace` seconds; children it forked go too, even if it has exited already."""
        stop_group(self.proc, grace)


def kill_pid_file(pid_file: Path, marker: str) -> None:
    """Kill the process named in `pid_file` if it still runs and its command line has `marker`.

    Used for a helper our own server started (dockerd's containerd) and left behind; the marker
    (our scratch directory) makes sure a stale pid now owned by another process is left alone.
    """
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return
    if marker in cmdline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def mounts_under(directory: Path) -> list[str]:
    """Mount points below `directory` (a leftover mount makes deleting the tree unsafe)."""
    prefix = str(directory.resolve()) + "/"
    found: list[str] = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            parts = line.split()
            if len(parts) > 1 and parts[1].startswith(prefix):
                found.append(parts[1])
    return found


def remove_tree(directory: Path) -> None:
    """Delete a scratch tree unless something is still mounted inside it."""
    if not directory.exists() or mounts_under(directory):
        return
    shutil.rmtree(directory, ignore_errors=True)
