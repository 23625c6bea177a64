"""The `portside` command: its subcommands, each imported only when it is the one run.

`portside serve` must start fast (its start is measured against the reference registry's), and
the management commands pull in an HTTP client and table rendering the server never uses:
the group imports a command's module when click asks for that command (click's documented
lazy-loading pattern), so `portside serve` never imports the remote commands and `portside
registry list` never imports the server.
"""

from __future__ import annotations

import importlib

import click

from portside import __version__

__all__ = ["cli", "main"]

_COMMANDS = {
    "serve": "portside.cli.server.serve:serve",
    "registry": "portside.cli.remote.registry:registry",
    "credential": "portside.cli.remote.registry:credential",
    "token": "portside.cli.remote.tokens:token",
    "scope-map": "portside.cli.remote.tokens:scope_map",
    "sp": "portside.cli.remote.identities:sp",
    "role": "portside.cli.remote.identities:role",
    "login": "portside.cli.remote.login:login",
    "repository": "portside.cli.remote.repository:repository",
    "manifest": "portside.cli.remote.manifests:manifest",
    "signing-key": "portside.cli.remote.identities:signing_key",
    "issuer": "portside.cli.remote.issuers:issuer",
    "admin": "portside.cli.server.admin:admin",
    "gc": "portside.cli.server.gc:gc",
    "config": "portside.cli.remote.lifecycle:config",
    "purge": "portside.cli.remote.purge:purge",
    "webhook": "portside.cli.remote.webhooks:webhook",
    "cache": "portside.cli.remote.cache:cache",
    "credential-set": "portside.cli.remote.credential_sets:credential_set",
    "import": "portside.cli.remote.imports:import_image",
    "import-show": "portside.cli.remote.imports:import_show",
    "import-list": "portside.cli.remote.imports:import_list",
    "audit": "portside.cli.remote.audit:audit",
    "replication": "portside.cli.remote.replication:replication",
}
"""Every subcommand: its name and where it is defined (`module:attribute`)."""


class _LazyGroup(click.Group):
    """A group whose commands are imported from `_COMMANDS` on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, sorted as `--help` shows them."""
        return sorted({*_COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command named `cmd_name`, its module imported now."""
        where = _COMMANDS.get(cmd_name)
        if where is None:
            return super().get_command(ctx, cmd_name)
        module, attribute = where.split(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):  # a wrong entry in the table above
            raise TypeError(f"{where} is not a click command")
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="portside")
def cli() -> None:
    """Portside: a self-hosted container registry."""


def main() -> None:
    """Console-script entry point."""
    cli()
