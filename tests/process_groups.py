"""Stopping what tests start, whole process groups included, and finding what was left behind.

Every server a test starts runs in its own session (`start_new_session=True`), so its process
group holds it and whatever it forks (granian workers, dockerd's containerd) and nothing else.
Stopping signals that group, not one pid. The test session marks itself in the environment
(`MARKER`), which every process it starts inherits, even one orphaned and reparented to init,
so tests/conftest.py can tell at the end whether anything the session started is still alive.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

__all__ = ["MARKER", "group_alive", "leftovers", "signal_group", "stop_group"]

MARKER = "PORTSIDE_TEST_SESSION"
"""The environment variable naming the test session a process was started by."""


def signal_group(group: int, signum: int) -> None:
    """Signal every process of the group; a group that is gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def _stat(pid_dir: Path) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), if readable."""
    try:
        return (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def group_alive(group: int) -> bool:
    """Whether any process of the group is still running (zombies do not count)."""
    for pid_dir in Path("/proc").glob("[0-9]*"):
        fields = _stat(pid_dir)
        if fields is not None and int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def _wait_group(group: int, proc: subprocess.Popen[bytes], seconds: float) -> bool:
    """Wait up to `seconds` for the group to empty; whether it did."""
    deadline = time.monotonic() + seconds
    while True:
        proc.poll()  # reaps the leader, so that it does not count as alive
        if not group_alive(group):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Stop `proc` and the process group it leads; reap `proc`.

    The leader gets SIGTERM first and `grace` seconds to stop its own children (granian its
    workers, dockerd its containerd); then whatever is left of the group gets SIGTERM, and
    SIGKILL a few seconds later. The group is signalled even when the leader has exited.
    """
    group = proc.pid
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    if not _wait_group(group, proc, 0.2):
        signal_group(group, signal.SIGTERM)
        if not _wait_group(group, proc, 5.0):
            signal_group(group, signal.SIGKILL)
            _wait_group(group, proc, 5.0)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def leftovers(session: str) -> dict[int, str]:
    """Running processes (not this one) whose environment names `session`: pid -> command."""
    wanted = f"{MARKER}={session}".encode()
    found: dict[int, str] = {}
    for pid_dir in Path("/proc").glob("[0-9]*"):
        pid = int(pid_dir.name)
        if pid == os.getpid():
            continue
        try:
            environ = (pid_dir / "environ").read_bytes().split(b"\0")
            if wanted not in environ:
                continue
            command = (
                (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue
        fields = _stat(pid_dir)
        if fields is not None and fields[0] != "Z":
            found[pid] = command.strip()[:200]
    return found
