"""`portside serve`: migrate the database, then run the HTTP server."""

from __future__ import annotations

import gc
import importlib
import logging
import socket
from pathlib import Path
from typing import Any

import click

from portside.cli.server.admin import first_start
from portside.cli.server.logging_setup import configure_logging
from portside.cli.server.login_servers import start_login_servers, stop_login_servers
from portside.config import load_settings, metrics_for_workers, settings_for_workers

__all__ = ["serve"]

_APP = "portside.api.app:app_from_environment"
"""The workers' application factory, as granian imports it."""


@click.command()
@click.option("--host", default=None, help="Address to listen on [127.0.0.1].")
@click.option("--port", type=int, default=None, help="TCP port [5000].")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None, help="Data directory [./data]."
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="TOML settings file.",
)
@click.option("--workers", type=int, default=None, help="Worker processes [one per core].")
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PEM certificate chain: serve HTTPS.",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PEM private key of --tls-cert.",
)
def serve(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    config_file: Path | None,
    workers: int | None,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    """Run the registry server."""
    # Before the server stack is imported: prometheus-client reads its directory then.
    with metrics_for_workers():
        _serve(config_file, host, port, data_dir, workers, tls_cert, tls_key)


def _serve(
    config_file: Path | None,
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    workers: int | None,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    # Imported here so that other commands start fast and never load the server stack.
    from granian import Granian
    from granian.constants import Interfaces, SSLProtocols

    from portside.runtime import migrate_apart, ready_to_serve

    settings = load_settings(
        config_file,
        host=host,
        port=port,
        data_dir=data_dir,
        workers=workers,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    # Before the database is touched: a second server on the same address must change nothing.
    _refuse_taken_address(settings.host, settings.port)
    configure_logging(settings.log_level, settings.log_format)
    log = logging.getLogger("portside")
    # No `mkdir(data_dir)`: a node on PostgreSQL and object storage keeps nothing there, and
    # must not leave an empty ./data behind. The migration makes the SQLite file's directory;
    # the filesystem root is made here, so that a directory we may not write fails the start.
    if settings.storage_driver == "filesystem":
        settings.resolved_storage_path().mkdir(parents=True, exist_ok=True)
    _preload_workers()
    # Granian forks the workers from this process, and each starts with its pages: whatever
    # is built here only for the start stays resident in every worker. So the usual start (an
    # SQLite database at the newest schema, the administrator's password in place) is
    # recognised with the standard library: no runtime, engine, event loop or password
    # hashing here. Otherwise Alembic runs in a child process (first start, an upgrade, and
    # every start on PostgreSQL, where Alembic decides): idle workers after a first start
    # held 90-91 MiB with it here, 79-80 without.
    ready = ready_to_serve(settings)
    if ready:
        url = settings.resolved_database_url()  # an SQLite file: no password to mask
        logging.getLogger("portside.metadata.migrate").info("metadata: %s (schema current)", url)
    else:
        try:
            migrate_apart(settings)  # logs "metadata: URL", its password masked
        except RuntimeError as error:
            raise click.ClickException(str(error)) from None
    first_start(settings, ensure_password=not ready)
    log.info("storage: %s", settings.storage_description())
    scheme = "https" if settings.tls_cert else "http"
    log.info(
        "listening on %s://%s:%d with %d worker(s)",
        scheme,
        settings.host,
        settings.port,
        settings.workers,
    )
    with settings_for_workers(settings):
        # Inside: the forwarder process reads the workers' settings, as they do.
        login_servers = start_login_servers(settings)
        try:
            # Last before the fork: see _preload_workers.
            gc.freeze()
            Granian(
                # A string: granian's workers build the app (the factory) in their process.
                _APP,
                address=settings.host,
                port=settings.port,
                interface=Interfaces.ASGI,
                workers=settings.workers,
                factory=True,
                log_level=settings.log_level,  # type: ignore[arg-type]
                log_dictconfig=_granian_logging(settings.log_format),
                ssl_cert=settings.tls_cert,
                ssl_key=settings.tls_key,
                # TLS 1.2 and up: older Docker engines and corporate proxies still negotiate 1.2.
                ssl_protocol_min=SSLProtocols.tls12,
            ).serve()
        finally:
            gc.unfreeze()  # the server has stopped (or `serve` ran in a test's process)
            stop_login_servers(login_servers)


def _preload_workers() -> None:
    """Import the HTTP layer here, once, for the workers that granian forks from this process
    (and `gc.freeze()` everything right before the fork).

    A forked worker shares its parent's pages until it writes them (and counts in its resident
    size only the pages of shared libraries it touches itself). Imported here, the data plane
    is imported once instead of once per worker, and its pages are shared. `gc.freeze()` keeps
    each worker's collector away from everything imported so far: a full collection writes
    every tracked object's header, which copies its page into the worker. Measured, idle after
    one GET /v2/, two workers (PSS: shared pages counted once): without the freeze a worker
    held 52 MiB of its own pages, with it 35; the whole server's PSS 228 -> 195 MiB. Importing
    in the workers instead (this process light) cost ~0.6 s more CPU in all and 9 MiB more
    resident per worker.
    """
    # By the name granian is given: the CLI does not depend on the HTTP layer's code.
    importlib.import_module(_APP.partition(":")[0])


def _granian_logging(log_format: str) -> dict[str, Any] | None:
    """Granian's logging configuration: its own (text) unless the lines must be JSON, when
    its messages go to the root logger configured above instead."""
    if log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {"_granian": {"handlers": [], "propagate": True}},
    }


def _refuse_taken_address(host: str, port: int) -> None:
    """Exit with an error if something already listens on `host`:`port`.

    Granian binds with SO_REUSEPORT, so a second `portside serve` on the same address would
    start without error and the kernel would split connections between the two. A trial bind
    without SO_REUSEPORT fails when any socket is bound there. (Two servers started in the same
    instant can still both pass; this catches the forgotten old server.)
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error}") from None
    with socket.socket(family, kind, proto) as trial:
        # Connections of a stopped server lingering in TIME_WAIT must not block a restart.
        trial.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            trial.bind(address)
        except OSError as error:
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {error.strerror or error}"
                " (is another server, perhaps another `portside serve`, running there?)"
            ) from None
