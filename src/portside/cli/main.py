"""`portside` entry point: the command group and its subcommands."""

from __future__ import annotations

import click

from portside import __version__
from portside.cli.serve import serve

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="portside")
def cli() -> None:
    """Portside: a self-hosted container registry."""


cli.add_command(serve)


def main() -> None:
    """Console-script entry point."""
    cli()
