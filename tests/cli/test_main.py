"""The `portside` group: every command is found by its name, and `serve` loads no client code."""

from __future__ import annotations

import subprocess
import sys

import click

from portside.cli.main import _COMMANDS, cli


def test_every_listed_command_loads_under_its_name() -> None:
    context = click.Context(cli)
    assert cli.list_commands(context) == sorted(_COMMANDS)
    for name in _COMMANDS:
        command = cli.get_command(context, name)
        assert command is not None and command.name == name
    assert cli.get_command(context, "no-such-command") is None


def test_the_server_command_imports_no_http_client_or_management_app() -> None:
    # What `portside serve` loads before its workers start is on the start time's path.
    probe = (
        "import sys, click\n"
        "from portside.cli.main import cli\n"
        "cli.get_command(click.Context(cli), 'serve')\n"
        "import portside.api.app\n"
        "print(sorted(m for m in ('httpx', 'fastapi', 'rich', 'portside.cli.remote')"
        " if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
