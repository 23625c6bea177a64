"""`portside serve` refuses an address another server already listens on, hands its workers
their settings without a secret in their environment, configures logging (no SDK chatter, no
password), makes a data directory only when something lives there, and names its storage."""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import granian
import pytest
from click.testing import CliRunner

from portside.cli.main import cli
from portside.config import Settings, settings_from_environment
from tests.backends.postgres import empty_database

ENV: dict[str, str | None] = {
    "PORTSIDE_CONFIG": None,
    "PORTSIDE_DATABASE_URL": None,
    "PORTSIDE_STORAGE_DRIVER": None,
    "PORTSIDE_STORAGE_PATH": None,
    "PORTSIDE_SETTINGS_FILE": None,
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
    yield FakeGranian.served


NOISY = ("azure", "botocore", "aiobotocore", "urllib3", "aiosqlite")


@pytest.fixture(autouse=True)
def logger_levels() -> Iterator[None]:
    """The levels `portside serve` sets on library loggers, put back after each test."""
    saved = {name: logging.getLogger(name).level for name in NOISY}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def free_port() -> int:
    """A TCP port nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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


class WorkerView(FakeGranian):
    """Records, when asked to serve, what a worker started then would see."""

    environ: ClassVar[dict[str, str]] = {}
    settings: ClassVar[Settings | None] = None

    def serve(self) -> None:
        """Take the environment workers inherit and the settings they build from it."""
        WorkerView.environ = dict(os.environ)
        WorkerView.settings = settings_from_environment()
        super().serve()


def test_workers_get_their_settings_with_no_secret_in_their_environment(
    tmp_path: Path, fake_granian: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(granian, "Granian", WorkerView)
    config = tmp_path / "portside.toml"
    config.write_text(
        '[portside]\nadmin_password = "admin-secret-from-file"\n'
        's3_secret_access_key = "s3-secret-from-file"\n'
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    arguments = ["serve", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    environment = {**ENV, "PORTSIDE_AZURE_ACCOUNT_KEY": "azure-secret-from-env"}
    result = CliRunner().invoke(cli, [*arguments, "--config", str(config)], env=environment)
    assert result.exit_code == 0, result.output

    secrets = ("admin-secret-from-file", "s3-secret-from-file", "azure-secret-from-env")
    leaked = [
        name for name, value in WorkerView.environ.items() if any(s in value for s in secrets)
    ]
    assert leaked == []
    settings = WorkerView.settings
    assert settings is not None and settings.port == port
    assert settings.admin_password == "admin-secret-from-file"
    assert settings.s3_secret_access_key == "s3-secret-from-file"
    assert settings.azure_account_key == "azure-secret-from-env"
    # The settings travel in a file only the server's user can read, gone once it stops.
    path = Path(WorkerView.environ["PORTSIDE_SETTINGS_FILE"])
    assert not path.exists() and not path.parent.exists()
    assert "azure-secret-from-env" not in result.output


def test_the_settings_file_is_private_while_the_server_runs(
    tmp_path: Path, fake_granian: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    modes: list[tuple[int, int]] = []

    def look(self: FakeGranian) -> None:
        path = Path(os.environ["PORTSIDE_SETTINGS_FILE"])
        modes.append((stat.S_IMODE(path.stat().st_mode), stat.S_IMODE(path.parent.stat().st_mode)))

    monkeypatch.setattr(FakeGranian, "serve", look)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = serve(tmp_path / "data", port)
    assert result.exit_code == 0, result.output
    assert modes == [(0o600, 0o700)]


def _azure_request_logged(caplog: pytest.LogCaptureFixture) -> bool:
    caplog.clear()
    # What azure-core's HttpLoggingPolicy writes, at INFO, for every request and response.
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").info(
        "Request URL: 'https://account.blob.core.windows.net/c/b'"
    )
    return any("Request URL" in r.getMessage() for r in caplog.records)


def test_sdk_request_logs_are_quiet_unless_debugging(
    tmp_path: Path, fake_granian: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    info = CliRunner().invoke(
        cli, ["serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data")], env=ENV
    )
    assert info.exit_code == 0, info.output
    assert not _azure_request_logged(caplog)
    assert not logging.getLogger("botocore.endpoint").isEnabledFor(logging.INFO)

    debugging = {**ENV, "PORTSIDE_LOG_LEVEL": "debug"}
    arguments = ["serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data")]
    debug = CliRunner().invoke(cli, arguments, env=debugging)
    assert debug.exit_code == 0, debug.output
    assert _azure_request_logged(caplog)
    # aiosqlite's debug lines carry every statement's parameters (password hashes): never.
    assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)


def test_the_database_password_is_never_logged(
    tmp_path: Path,
    fake_granian: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.chdir(tmp_path)
    with empty_database("postgresql", request.config, tmp_path) as url:
        # The test cluster trusts local connections: the password is carried, never checked.
        assert "postgres@" in url
        with_password = url.replace("postgres@", "postgres:pg-secret-password@")
        environment = {**ENV, "PORTSIDE_DATABASE_URL": with_password}
        result = CliRunner().invoke(cli, ["serve", "--port", str(free_port())], env=environment)
    assert result.exit_code == 0, result.output
    assert "pg-secret-password" not in caplog.text + result.output
    assert "postgres:***@" in caplog.text


@pytest.mark.parametrize(
    ("storage", "shown"),
    [
        (
            {
                "PORTSIDE_STORAGE_DRIVER": "s3",
                "PORTSIDE_S3_BUCKET": "blobs",
                "PORTSIDE_S3_ENDPOINT_URL": "http://seaweed.internal:8333",
                "PORTSIDE_S3_SECRET_ACCESS_KEY": "s3-secret",
            },
            "storage: s3://blobs at http://seaweed.internal:8333",
        ),
        (
            {
                "PORTSIDE_STORAGE_DRIVER": "azure",
                "PORTSIDE_AZURE_CONTAINER": "portside",
                "PORTSIDE_AZURE_CONNECTION_STRING": (
                    "DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=a2V5;"
                    "EndpointSuffix=core.windows.net"
                ),
            },
            "storage: azure://contoso/portside",
        ),
        (
            {
                "PORTSIDE_STORAGE_DRIVER": "azure",
                "PORTSIDE_AZURE_CONTAINER": "portside",
                "PORTSIDE_AZURE_ACCOUNT_NAME": "devstoreaccount1",
                "PORTSIDE_AZURE_ACCOUNT_KEY": "a2V5",
                "PORTSIDE_AZURE_ENDPOINT": "http://127.0.0.1:10000/devstoreaccount1?sig=x",
                "PORTSIDE_AZURE_PREFIX": "eu",
            },
            "storage: azure://devstoreaccount1/portside/eu at http://127.0.0.1:10000/devstoreaccount1",
        ),
    ],
    ids=["s3", "azure-connection-string", "azure-endpoint"],
)
def test_a_node_with_remote_storage_makes_no_data_directory_and_names_its_storage(
    tmp_path: Path,
    fake_granian: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    storage: dict[str, str],
    shown: str,
) -> None:
    caplog.set_level(logging.INFO)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    database = f"sqlite+aiosqlite:///{tmp_path / 'metadata' / 'portside.db'}"
    environment = {**ENV, **storage, "PORTSIDE_DATABASE_URL": database}
    result = CliRunner().invoke(cli, ["serve", "--port", str(free_port())], env=environment)
    assert result.exit_code == 0, result.output
    assert list(work.iterdir()) == []  # no ./data: nothing lives there
    assert shown in caplog.text
    assert (
        "a2V5" not in caplog.text and "s3-secret" not in caplog.text and "sig=" not in caplog.text
    )


def test_a_node_on_the_filesystem_makes_its_data_directory_and_names_the_path(
    tmp_path: Path,
    fake_granian: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["serve", "--port", str(free_port())], env=ENV)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "portside.db").is_file()
    assert f"storage: filesystem {tmp_path / 'data' / 'blobs'}" in caplog.text


def _login_server_processes() -> list[int]:
    """Children of this process running the loopback login servers' forwarder."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat_file.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat_file.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and b"portside.cli.server.login_servers" in cmdline:
            found.append(int(stat_file.parent.name))
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


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_workers_share_a_private_metrics_directory_removed_at_exit(
    tmp_path: Path,
    fake_granian: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    log_format: str,
) -> None:
    monkeypatch.setattr(granian, "Granian", WorkerView)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # TMPDIR, once read, is cached
    arguments = ["serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(cli, arguments, env={**ENV, "PORTSIDE_LOG_FORMAT": log_format})
    assert result.exit_code == 0, result.output
    shared = Path(WorkerView.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert shared.parent == tmp_path and shared.name.startswith("portside-metrics-")
    assert not shared.exists() and "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    # In JSON, Granian's own lines go to the root logger and its JSON formatter.
    granian_logging = fake_granian[0]["log_dictconfig"]
    if log_format == "text":
        assert granian_logging is None
    else:
        assert granian_logging["loggers"]["_granian"]["propagate"] is True


def test_a_start_on_a_current_database_reads_it_without_sqlalchemy(
    tmp_path: Path, fake_granian: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first = serve(tmp_path / "data", port)
    assert first.exit_code == 0, first.output
    assert "password:" in first.output  # the first start generated and printed it
    # The next start finds the schema current and the password stored, with the standard
    # library alone: the serving process, which granian forks its workers from, then holds
    # neither SQLAlchemy nor the runtime (cli/server/serve.py says why).
    probe_code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from portside.config import Settings\n"
        "from portside.runtime import ready_to_serve\n"
        "ready = ready_to_serve(Settings(data_dir=Path(sys.argv[1])))\n"
        "print(ready, sorted(m for m in ('sqlalchemy', 'portside.runtime.root', 'alembic')"
        " if m in sys.modules))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe_code, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.strip() == "True []"
    with caplog.at_level(logging.INFO, logger="portside.metadata.migrate"):
        again = serve(tmp_path / "data", port)
    assert again.exit_code == 0, again.output
    assert "password:" not in again.output
    assert "(schema current)" in caplog.text
    assert len(fake_granian) == 2


def test_a_migration_runs_in_a_child_process_and_alembic_stays_out(tmp_path: Path) -> None:
    # The serving process's pages are every worker's (cli/server/serve.py): Alembic and the
    # migration scripts must not be among them.
    probe_code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from portside.config import Settings\n"
        "from portside.runtime import migrate_apart\n"
        "from portside.metadata.revisions import sqlite_is_current\n"
        "settings = Settings(data_dir=Path(sys.argv[1]))\n"
        "migrate_apart(settings)\n"
        "print(sqlite_is_current(settings.resolved_database_url()), 'alembic' in sys.modules)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe_code, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.strip() == "True False"


def test_a_failed_migration_ends_the_start_with_a_clear_error(
    tmp_path: Path, fake_granian: list[dict[str, Any]]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: the database is unreachable
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+asyncpg://portside:db-secret@127.0.0.1:{port}/portside"
    environment = {**ENV, "PORTSIDE_DATABASE_URL": url}
    arguments = ["serve", "--port", str(free_port()), "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(cli, arguments, env=environment)
    assert result.exit_code == 1
    assert "the database migration failed" in result.output
    assert "db-secret" not in result.output
    assert fake_granian == []
