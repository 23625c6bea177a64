"""The loopback login servers' process, started by `portside serve` beside the HTTP server.

While the server listens on loopback only, every registry but the default has a login server
`127.0.0.1:PORT` of its own (runtime/forwarder.py forwards those ports to the main one). The
forwarder runs in a process of its own, started before granian: granian forks its workers from
the main process, and a fork must not copy a running event loop or listening sockets.

The process ends with the server: the server stops it when it exits, and it stops itself
within a second when its parent is gone (a server killed outright runs no exit handler).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys

import anyio

from portside.cli.server.logging_setup import configure_logging
from portside.config import Settings, settings_from_environment

__all__ = ["start_login_servers", "stop_login_servers"]

_NICENESS = 10
"""The forwarder's scheduling priority (as `nice -n 10`): it moves bytes of a few loopback
connections, the workers serve everything else."""


def start_login_servers(settings: Settings) -> subprocess.Popen[bytes] | None:
    """Start the forwarder process if the settings give loopback login servers; call it inside
    `settings_for_workers`, whose settings the process reads."""
    if settings.local_login_port_range() is None:
        return None
    process = subprocess.Popen(
        [sys.executable, "-m", "portside.cli.server.login_servers", str(os.getpid())],
        stdin=subprocess.DEVNULL,
    )
    # Lower priority: the forwarder's start (a Python process importing the runtime) would
    # otherwise take CPU from the workers' while they start and answer the first requests.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, process.pid, _NICENESS)
    # Also at exit: an exception out of the HTTP server skips `stop_login_servers`.
    atexit.register(stop_login_servers, process)
    return process


def stop_login_servers(process: subprocess.Popen[bytes] | None) -> None:
    """Stop the forwarder process (if one was started and still runs), and wait for it."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


async def _forward(settings: Settings, parent: int) -> None:
    # Not a whole Runtime: this process needs the registries table and sockets, nothing else
    # (runtime/forwarder.py); tests/cli/test_main.py holds what it must not import.
    from portside.runtime.forwarder import forward_login_servers

    await forward_login_servers(settings, keep_going=lambda: os.getppid() == parent)


def main() -> None:
    """The forwarder process: follow the registries until the parent server is gone."""
    # Ctrl-C reaches the whole process group; the server decides when this process ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = settings_from_environment()
    configure_logging(settings.log_level, settings.log_format)
    anyio.run(_forward, settings, int(sys.argv[1]))


if __name__ == "__main__":
    main()
