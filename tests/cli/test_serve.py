"""`portside serve` refuses an address another server already listens on."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import granian
import pytest
from click.testing import CliRunner

from portside.cli.main import cli

ENV: dict[str, str | None] = {
    "PORTSIDE_CONFIG": None,
    "PORTSIDE_DATABASE_URL": None,
    "PORTSIDE_STORAGE_DRIVER": None,
    "PORTSIDE_STORAGE_PATH": None,
    "PORTSIDE_RESOLVED_SETTINGS": None,
}


class FakeGranian:
    """Stands in for the HTTP server: records that it was asked to serve."""

    served: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, target: str, **options: Any) -> None:
        self.options = options

    def serve(self) -> None:
        """Record the call instead of serving."""
        FakeGranian.served.append(self.options)


@pytest.fixture
def fake_granian(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """`granian.Granian` replaced; the list of servers started."""
    FakeGranian.served = []
    monkeypatch.setattr(granian, "Granian", FakeGranian)
    # `portside serve` exports its settings for the workers: keep them out of this process.
    monkeypatch.delenv("PORTSIDE_RESOLVED_SETTINGS", raising=False)
    yield FakeGranian.served


def serve(data_dir: Path, port: int) -> Any:
    """Run `portside serve` on 127.0.0.1:`port`."""
    arguments = ["serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)]
    return CliRunner().invoke(cli, arguments, env=ENV)


@pytest.mark.parametrize("shared", [False, True], ids=["plain", "reuseport"])
def test_serve_refuses_an_address_in_use(
    tmp_path: Path, fake_granian: list[dict[str, Any]], shared: bool
) -> None:
    with socket.socket() as other:
        if shared:
            # As Granian binds: a second server with these options would share the port.
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = serve(tmp_path / "data", port)
    assert result.exit_code != 0
    assert f"127.0.0.1:{port}" in result.output
    assert "another" in result.output
    assert fake_granian == []
    # Refused before the database was made: a second server changes nothing.
    assert not (tmp_path / "data").exists()


def test_serve_starts_on_a_free_address(tmp_path: Path, fake_granian: list[dict[str, Any]]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = serve(tmp_path / "data", port)
    assert result.exit_code == 0, result.output
    assert [server["port"] for server in fake_granian] == [port]


def _login_server_processes() -> list[int]:
    """Children of this process running the loopback login servers' forwarder."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and b"portside.cli.server.login_servers" in cmdline:
            found.append(int(stat.parent.name))
    return found


def test_serve_runs_the_login_servers_beside_the_http_server_and_stops_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_granian: list[dict[str, Any]]
) -> None:
    running: list[list[int]] = []
    monkeypatch.setattr(
        FakeGranian, "serve", lambda self: running.append(_login_server_processes())
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = serve(tmp_path / "data", port)
    assert result.exit_code == 0, result.output
    assert len(running) == 1 and len(running[0]) == 1
    assert _login_server_processes() == []
    # Off loopback there are none.
    running.clear()
    arguments = ["serve", "--host", "0.0.0.0", "--port", str(port), "--data-dir", str(tmp_path)]
    assert CliRunner().invoke(cli, arguments, env=ENV).exit_code == 0
    assert running == [[]]
