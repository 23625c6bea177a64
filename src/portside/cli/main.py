"""`portside` entry point: the command group and its subcommands."""

from __future__ import annotations

import click

from portside import __version__
from portside.cli.remote.audit import audit
from portside.cli.remote.cache import cache
from portside.cli.remote.credential_sets import credential_set
from portside.cli.remote.identities import role, signing_key, sp
from portside.cli.remote.imports import import_image, import_list, import_show
from portside.cli.remote.issuers import issuer
from portside.cli.remote.lifecycle import config
from portside.cli.remote.login import login
from portside.cli.remote.manifests import manifest
from portside.cli.remote.purge import purge
from portside.cli.remote.registry import credential, registry
from portside.cli.remote.replication import replication
from portside.cli.remote.repository import repository
from portside.cli.remote.tokens import scope_map, token
from portside.cli.remote.webhooks import webhook
from portside.cli.server.admin import admin
from portside.cli.server.gc import gc
from portside.cli.server.serve import serve

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="portside")
def cli() -> None:
    """Portside: a self-hosted container registry."""


cli.add_command(serve)
cli.add_command(registry)
cli.add_command(credential)
cli.add_command(token)
cli.add_command(scope_map)
cli.add_command(sp)
cli.add_command(role)
cli.add_command(login)
cli.add_command(repository)
cli.add_command(manifest)
cli.add_command(signing_key)
cli.add_command(issuer)
cli.add_command(admin)
cli.add_command(gc)
cli.add_command(config)
cli.add_command(purge)
cli.add_command(webhook)
cli.add_command(cache)
cli.add_command(credential_set)
cli.add_command(import_image)
cli.add_command(import_show)
cli.add_command(import_list)
cli.add_command(audit)
cli.add_command(replication)


def main() -> None:
    """Console-script entry point."""
    cli()
