"""A throwaway PostgreSQL server for the metadata tests: one per session, a database per test.

The server is started as /work/shared/TOOLS.md describes: `initdb` and `postgres` run as the
`postgres` user when we are root (both refuse to run as root), in a fresh temporary folder, on a
free port of 127.0.0.1, with its socket in that folder. Durability is switched off (fsync, full page
writes, synchronous commit): a test cluster never survives a crash anyway, and it makes CREATE
DATABASE and every commit cheap. The server is stopped with `pg_ctl stop`, which signals the pid in
its own postmaster.pid, when the pytest session ends.

Missing PostgreSQL skips the PostgreSQL half of the suite, except under CI=true, where
`require_tool` turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from tests.e2e.clients import Cli, ServerProcess, ToolError, free_port, require_tool

__all__ = [
    "BACKENDS",
    "PostgresCluster",
    "empty_database",
    "postgres_cluster",
    "stop_postgres_cluster",
]

# The metadata backends every store test runs on; the names are also the test ids.
BACKENDS = ("sqlite", "postgresql")

# Byte-order collation, the same order SQLite's BINARY collation gives.
_INITDB_OPTIONS = ("-E", "UTF8", "--locale=C")
_SERVER_SETTINGS = (
    "listen_addresses=127.0.0.1",
    "fsync=off",
    "full_page_writes=off",
    "synchronous_commit=off",
    "max_connections=200",
)
_PROGRAMS = ("initdb", "postgres", "pg_ctl", "pg_isready")
_CLUSTER = pytest.StashKey["PostgresCluster"]()
_FAILURE = pytest.StashKey[str]()


def _bindir() -> Path:
    """The folder of the newest installed PostgreSQL's programs (Debian keeps it off PATH)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda initdb: float(initdb.parts[-3]) if initdb.parts[-3][:1].isdigit() else 0.0,
        reverse=True,
    )
    # Elsewhere initdb is on PATH, possibly as a symlink into the real folder.
    bindir = found[0].parent if found else Path(require_tool("initdb")).resolve().parent
    for program in _PROGRAMS:
        if not (bindir / program).is_file():
            require_tool(program)  # skips (fails under CI) with the install step
            pytest.fail(f"{program} is on PATH but not beside {bindir / 'initdb'}", pytrace=False)
    return bindir


def _as_postgres() -> tuple[str, ...]:
    """Command prefix that runs a server program as `postgres` when we are root."""
    if os.geteuid() != 0:
        return ()
    return (require_tool("runuser"), "-u", "postgres", "--")


@dataclass
class PostgresCluster:
    """A running throwaway server: where it lives and how to reach it."""

    root: Path
    port: int
    bindir: Path
    server: ServerProcess

    @classmethod
    def start(cls) -> PostgresCluster:
        """initdb a new cluster in a temporary folder and start it on a free loopback port."""
        bindir = _bindir()
        runner = Cli(_as_postgres(), timeout=120)
        root = Path(tempfile.mkdtemp(prefix="portside-pg-"))
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(root, account.pw_uid, account.pw_gid)
        data = root / "data"
        try:
            runner(bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", *_INITDB_OPTIONS)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cls._launch(root, bindir)

    @classmethod
    def _launch(cls, root: Path, bindir: Path, port: int | None = None) -> PostgresCluster:
        """Start the server of the cluster in `root/data` and wait until it accepts connections."""
        port = port or free_port()
        settings = [arg for setting in _SERVER_SETTINGS for arg in ("-c", setting)]
        argv = [
            *_as_postgres(),
            str(bindir / "postgres"),
            "-D",
            str(root / "data"),
            "-p",
            str(port),
        ]
        server = ServerProcess.start(
            "postgres", [*argv, "-k", str(root), *settings], root / "server.log"
        )
        cluster = cls(root=root, port=port, bindir=bindir, server=server)
        try:
            server.wait_ready(cluster.is_ready, timeout=60)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def halt(self) -> None:
        """Stop the server (by its pid file, then its pid) and keep its data, as a lost
        database: `resume` starts it again on the same port."""
        try:
            Cli(_as_postgres(), timeout=60)(
                self.bindir / "pg_ctl", "stop", "-D", self.root / "data", "-m", "fast", "-w"
            )
        except (ToolError, subprocess.TimeoutExpired):
            pass
        finally:
            self.server.stop()

    def resume(self) -> None:
        """Start a halted server again on its port."""
        self.server = PostgresCluster._launch(self.root, self.bindir, self.port).server

    def standby(self) -> PostgresCluster:
        """A streaming hot standby of this server (`pg_basebackup -R`) on a free loopback port.

        initdb's pg_hba.conf already trusts replication connections from 127.0.0.1, and the
        defaults (wal_level=replica, max_wal_senders=10) let a base backup stream.
        """
        root = Path(tempfile.mkdtemp(prefix="portside-pg-standby-"))
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(root, account.pw_uid, account.pw_gid)
        source = ("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres")
        try:
            Cli(_as_postgres(), timeout=120)(
                self.bindir / "pg_basebackup",
                *source,
                "-D",
                root / "data",
                "-R",
                "-X",
                "stream",
                # Without it the backup waits for a spread checkpoint on the primary: more
                # than a minute on an idle test server.
                "--checkpoint=fast",
            )
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return PostgresCluster._launch(root, self.bindir)

    def is_ready(self) -> bool:
        """True once the server accepts connections."""
        probe = [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(probe, check=False, timeout=10).returncode == 0

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of `database` on this server."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, *statements: str) -> None:
        """Run administrative statements (outside any transaction) in the `postgres` database."""

        async def run() -> None:
            conn = await asyncpg.connect(
                host="127.0.0.1", port=self.port, user="postgres", database="postgres"
            )
            try:
                for statement in statements:
                    await conn.execute(statement)
            finally:
                await conn.close()

        asyncio.run(run())

    @contextlib.contextmanager
    def fresh_database(self) -> Iterator[str]:
        """A new empty database for one test; dropped (connections and all) afterwards."""
        name = f"portside_{uuid.uuid4().hex[:16]}"
        self.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.url(name)
        finally:
            self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server through its own pid file, then remove its folder."""
        try:
            Cli(_as_postgres(), timeout=60)(
                self.bindir / "pg_ctl", "stop", "-D", self.root / "data", "-m", "fast", "-w"
            )
        except (ToolError, subprocess.TimeoutExpired):
            pass  # the fallback below signals the process we started, by its pid
        finally:
            self.server.stop()
            shutil.rmtree(self.root, ignore_errors=True)


def postgres_cluster(config: pytest.Config) -> PostgresCluster:
    """The session's server, started on first use and stopped when the session ends.

    Kept on the pytest config rather than in a session fixture so that every test folder that
    asks (tests/metadata, tests/services) shares one server instead of one per conftest.
    """
    cluster = config.stash.get(_CLUSTER, None)
    if cluster is not None:
        return cluster
    failure = config.stash.get(_FAILURE, None)
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    try:
        cluster = PostgresCluster.start()
    except pytest.skip.Exception:
        raise  # PostgreSQL is not installed: every test asks again, and skips again, cheaply
    except (Exception, pytest.fail.Exception) as exc:
        # Remembered so that the other PostgreSQL tests fail at once instead of retrying.
        config.stash[_FAILURE] = f"the test PostgreSQL server did not start: {exc}"
        raise
    config.stash[_CLUSTER] = cluster
    config.add_cleanup(lambda: stop_postgres_cluster(config))
    return cluster


def stop_postgres_cluster(config: pytest.Config) -> None:
    """Stop the session's server if one was started (idempotent).

    tests/conftest.py calls this when the session finishes, ahead of its check for processes
    left running; the config cleanup above covers runs that end before that.
    """
    cluster = config.stash.get(_CLUSTER, None)
    if cluster is not None:
        del config.stash[_CLUSTER]
        cluster.stop()


@contextlib.contextmanager
def empty_database(backend: str, config: pytest.Config, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, never-migrated database on `backend` ("sqlite" or "postgresql")."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}"
        return
    with postgres_cluster(config).fresh_database() as url:
        yield url
