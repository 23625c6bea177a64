"""Options of the commands that log in to an upstream registry (`credential-set`, `import`).

On these commands `--username`/`--password` are the upstream's credentials, as in
`az acr import` and `az acr credential-set`; the service principal that calls the management
API then gives its own as `--sp-username`/`--sp-password` (or PORTSIDE_USERNAME and
PORTSIDE_PASSWORD, as on every command).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["service_principal_flags_renamed"]

F = TypeVar("F", bound=Callable[..., Any])

_RENAMED = {"username": "--sp-username", "password": "--sp-password"}
_UPSTREAM = {"username": "upstream_username", "password": "upstream_password"}


def service_principal_flags_renamed(command: click.Command) -> click.Command:
    """Give the connection's `--username`/`--password` (a service principal's) the flags
    `--sp-username`/`--sp-password`, freeing the plain ones for the upstream's credentials,
    which the command receives as `upstream_username` and `upstream_password`."""
    for param in command.params:
        if not isinstance(param, click.Option) or param.name not in _RENAMED:
            continue
        if param.expose_value:
            # The command's own: a distinct destination, or click would hand its value to the
            # service principal's option too (values are stored by name).
            param.name = _UPSTREAM[param.name]
        else:
            param.opts = [_RENAMED[param.name]]
            param.secondary_opts = []
    return command
