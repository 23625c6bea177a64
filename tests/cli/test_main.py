"""The `portside` group: every command is found by its name, `serve` loads no client code, and
the server's processes load only what their work needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from portside.cli.main import _COMMANDS, cli
from portside.config import Settings
from portside.runtime import migrate


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


def _loaded(probe: str, *arguments: str) -> str:
    """What `probe` prints, run in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", probe, *arguments], capture_output=True, text=True, check=True
    ).stdout.strip()


# Libraries a worker serving /v2/ does not need until a request does: tokens and sealed
# secrets (PyJWT, cryptography: ~9 MiB), PostgreSQL (asyncpg, SQLAlchemy's dialect), purge
# filters (RE2), the management app, the portal, Alembic. Each is imported where it is used.
_NOT_ON_THE_DATA_PLANE = (
    "jwt",
    "cryptography",
    "asyncpg",
    "sqlalchemy.dialects.postgresql",
    "re2",
    "fastapi",
    "jinja2",
    "alembic",
)


def test_a_worker_answering_v2_loads_no_token_postgresql_or_management_library(
    tmp_path: Path,
) -> None:
    # A worker's resident size is what it imported (issue 17: <= 100 MiB moving 1 GiB).
    migrate(Settings(data_dir=tmp_path / "data"))  # here: Alembic is not the worker's
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from starlette.testclient import TestClient\n"
        "from portside.api.app import create_app\n"
        "from portside.config import Settings\n"
        "app = create_app(Settings(data_dir=Path(sys.argv[1])))\n"
        "with TestClient(app, base_url='http://localhost') as client:\n"
        "    assert client.get('/v2/').status_code == 200\n"
        f"print(sorted(m for m in {_NOT_ON_THE_DATA_PLANE!r} if m in sys.modules))\n"
    )
    assert _loaded(probe, str(tmp_path / "data")) == "[]"


def test_the_login_server_forwarder_loads_neither_services_nor_http() -> None:
    # The forwarder process follows one table and copies bytes (runtime/forwarder.py).
    probe = (
        "import sys\n"
        "import portside.cli.server.login_servers, portside.runtime.forwarder\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'jwt', "
        "'cryptography', 'prometheus_client') or m.startswith(('portside.api', "
        "'portside.runtime.root', 'portside.services.content', 'portside.services.management'))))\n"
    )
    assert _loaded(probe) == "[]"
