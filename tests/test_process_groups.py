"""Servers that tests and benchmarks start are stopped with their whole process group, and the
session notices processes left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.servers import Server, free_port
from tests.e2e.clients import ServerProcess
from tests.process_groups import MARKER, group_alive, leftovers, stop_group

FORKING_SERVER = str(Path(__file__).with_name("forking_server.py"))


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _worker_pid(pid_file: Path) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if pid_file.exists() and pid_file.read_text():
            return int(pid_file.read_text())
        time.sleep(0.05)
    raise AssertionError("the forking server did not start its worker")


def test_benchmark_server_stop_ends_the_workers_too(tmp_path: Path) -> None:
    """The leak `make test` showed: the server went, its worker stayed."""
    pid_file = tmp_path / "worker.pid"
    port = free_port()
    server = Server(
        "forking", [sys.executable, FORKING_SERVER, str(port), str(pid_file)], tmp_path, port
    )
    try:
        server.start(timeout=30)
        worker = _worker_pid(pid_file)
        assert _running(worker)
    finally:
        server.stop()
    assert not _running(worker)
    assert server.process is not None and not group_alive(server.process.pid)


def test_test_server_stop_ends_the_workers_too(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    argv = [sys.executable, FORKING_SERVER, str(free_port()), str(pid_file)]
    server = ServerProcess.start("forking", argv, tmp_path / "forking.log")
    try:
        worker = _worker_pid(pid_file)
        assert _running(worker)
    finally:
        server.stop(grace=5)
    assert not _running(worker)


def test_a_group_whose_leader_already_exited_is_still_stopped(tmp_path: Path) -> None:
    code = "import subprocess, sys; print(subprocess.Popen(['sleep', '600']).pid)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None
    orphan = int(proc.stdout.readline())
    proc.stdout.close()
    proc.wait(timeout=20)
    assert _running(orphan)
    stop_group(proc, grace=5)
    assert not _running(orphan)


def test_leftovers_finds_what_this_session_started_and_nothing_else() -> None:
    session = os.environ[MARKER]
    mine = subprocess.Popen(["sleep", "600"], start_new_session=True)
    other = subprocess.Popen(
        ["sleep", "600"], env={**os.environ, MARKER: "another-session"}, start_new_session=True
    )
    try:
        found = leftovers(session)
        assert mine.pid in found and "sleep 600" in found[mine.pid]
        assert other.pid not in found
    finally:
        for proc in (mine, other):
            stop_group(proc, grace=5)
    assert mine.pid not in leftovers(session)
