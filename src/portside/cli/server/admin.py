"""`portside admin reset-password`: a new deployment administrator password, for operators
who lost theirs. It talks to the database directly (run it where `portside serve` runs, with
the same configuration), not to the server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio
import click

from portside.config import Settings, load_settings

if TYPE_CHECKING:
    from portside.services.management.admin import DeploymentAdmin

__all__ = ["admin", "first_start"]

T = TypeVar("T")


@click.group()
def admin() -> None:
    """Deployment administration that needs no running server."""


@admin.command("reset-password")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML settings file (as given to `portside serve`).",
)
@click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Data directory."
)
def reset_password(config_file: Path | None, data_dir: Path | None) -> None:
    """Replace the management API's administrator password and print the new one (once)."""
    settings = load_settings(config_file, data_dir=data_dir)
    if settings.admin_password:
        raise click.ClickException(
            "the administrator password is configured (admin_password / "
            "PORTSIDE_ADMIN_PASSWORD); change it there instead"
        )
    from portside.runtime import migrate

    migrate(settings)
    password = anyio.run(_reset, settings)
    click.echo(password)
    click.echo(
        "This is the new password of user `admin` on the management API; it is not shown "
        "again. The old one no longer works.",
        err=True,
    )


async def _with_admin(settings: Settings, work: Callable[[DeploymentAdmin], Awaitable[T]]) -> T:
    """Run `work` on the deployment administrator over the configured database."""
    from portside.runtime import Runtime

    async with Runtime(settings) as runtime:
        return await work(runtime.admin)


async def _reset(settings: Settings) -> str:
    """Store a new administrator password through DeploymentAdmin; its value."""
    return await _with_admin(settings, lambda admin: admin.reset())


async def _ensure(settings: Settings) -> str | None:
    return await _with_admin(settings, lambda admin: admin.ensure(settings.admin_password))


def first_start(settings: Settings, *, ensure_password: bool = True) -> None:
    """Before the workers start: create the administrator password on the first start and
    print it once (unless `ensure_password` is false: the caller saw that one is in place),
    and say how to get credentials when the registry is not open."""
    password = anyio.run(_ensure, settings) if ensure_password else None
    scheme = "https" if settings.tls_cert else "http"
    server = f"{scheme}://{settings.host}:{settings.port}"
    if password is not None:
        click.echo(
            "\nManagement API administrator (shown once; keep it safe):\n"
            f"  user: admin\n  password: {password}\n"
            f"  try:  PORTSIDE_SERVER={server} PORTSIDE_ADMIN_PASSWORD=... portside registry list\n"
            "Lost it? `portside admin reset-password` prints a new one.\n",
            err=True,
        )
    open_here = settings.anonymous_loopback and settings.listens_on_loopback()
    if not open_here:
        click.echo(
            f"Credentials are required on {settings.host}. To push as the admin user:\n"
            f"  portside registry update {settings.default_registry} --admin-enabled true\n"
            f"  docker login {settings.host}:{settings.port} -u {settings.default_registry}\n"
            "or create tokens and service principals (docs/management.md).\n",
            err=True,
        )
