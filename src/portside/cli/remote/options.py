"""Options many az-style commands share: the registry they act on, `--yes` before a deletion,
the validity of the secrets they generate.

The connection and output options live with the client that reads them (client.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = [
    "confirm",
    "expiration_option",
    "name_argument",
    "registry_name_option",
    "registry_option",
    "yes_option",
]

F = TypeVar("F", bound=Callable[..., Any])

_MAX_EXPIRY_DAYS = 3650
"""The server's limit on a secret's validity (ten years)."""

registry_option = click.option(
    "--registry", "-r", "registry_name", required=True, help="Registry name."
)
"""`--registry/-r NAME`, required, passed as `registry_name`."""

registry_name_option = click.option(
    "--name", "-n", "registry_name", required=True, help="Registry name."
)
"""`--name/-n NAME`, required, passed as `registry_name`: how `az acr repository` and
`az acr login` name the registry."""

yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
"""`--yes/-y`: a deletion goes ahead without asking (see `confirm`)."""


def confirm(yes: bool, question: str) -> None:
    """Ask `question` on stderr and abort unless answered yes; nothing with `--yes`."""
    if not yes:
        click.confirm(question, abort=True, err=True)


def expiration_option(help_text: str) -> Callable[[F], F]:
    """`--expiration-in-days N` (1 to 3650) for the secrets a command generates."""
    return click.option(
        "--expiration-in-days", type=click.IntRange(1, _MAX_EXPIRY_DAYS), help=help_text
    )


def name_argument(what: str) -> Callable[[F], F]:
    """NAME as an argument or, as `az acr` spells it, as `-n/--name NAME`; passed as `name`.

    Giving neither or both is a usage error.
    """

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def merged(*args: Any, name: str | None, name_option: str | None, **kwargs: Any) -> Any:
            if (name is None) == (name_option is None):
                raise click.UsageError(f"give the {what}'s name once: NAME or -n/--name NAME")
            return command(*args, name=name if name is not None else name_option, **kwargs)

        option = click.option("-n", "--name", "name_option", help=f"The {what}'s name (or NAME).")
        return click.argument("name", required=False)(option(merged))  # type: ignore[return-value]

    return decorate
