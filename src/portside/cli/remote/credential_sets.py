"""`portside credential-set ...`, modelled on `az acr credential-set`: credentials Portside
uses to log in to an upstream registry (imports, cache rules).

On `create` and `update`, `--username`/`--password` are the upstream's; a service principal
calling the API gives `--sp-username`/`--sp-password` there (cli/remote/upstream_options.py).
The password is sent to the server once and never shown again (`show` masks it); the server
keeps it sealed with the deployment key (docs/import-and-cache.md).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from portside.cli.remote.client import (
    CliError,
    connection_options,
    emit,
    emit_record,
    management_client,
)
from portside.cli.remote.options import confirm, registry_option, yes_option
from portside.cli.remote.upstream_options import service_principal_flags_renamed

__all__ = ["credential_set"]

_FIELDS = (
    ("Name", "name"),
    ("Login server", "loginServer"),
    ("Username", "username"),
    ("Password", "password"),
    ("Created", "creationDate"),
    ("Modified", "lastModified"),
)
_PASSWORD_HELP = "The password or token ('-' reads it from standard input)."


def _path(registry: str, name: str | None = None) -> str:
    base = f"/registries/{registry}/credentialSets"
    return base if name is None else f"{base}/{name}"


def _password(value: str | None) -> str | None:
    if value != "-":
        return value
    text = sys.stdin.readline().rstrip("\r\n")
    if not text:
        raise CliError("no password on standard input")
    return text


@click.group("credential-set")
def credential_set() -> None:
    """Credential sets: a login server, user name and password for an upstream registry."""


@service_principal_flags_renamed
@credential_set.command("create")
@registry_option
@click.option("--name", "-n", "name", required=True, help="Name of the credential set.")
@click.option("--login-server", "-l", required=True, help="The upstream's host[:port].")
@click.option("--username", "-u", "username", required=True, help="User name at the upstream.")
@click.option("--password", "-p", "password", required=True, help=_PASSWORD_HELP)
@connection_options
@click.pass_context
def create_credential_set(
    ctx: click.Context,
    registry_name: str,
    name: str,
    login_server: str,
    upstream_username: str,
    upstream_password: str,
) -> None:
    """Create a credential set."""
    body = {
        "name": name,
        "loginServer": login_server,
        "username": upstream_username,
        "password": _password(upstream_password),
    }
    data = management_client(ctx).call("POST", _path(registry_name), body)
    emit_record(ctx, data, _FIELDS)


@credential_set.command("list")
@registry_option
@connection_options
@click.pass_context
def list_credential_sets(ctx: click.Context, registry_name: str) -> None:
    """List the registry's credential sets."""
    emit(ctx, management_client(ctx).call("GET", _path(registry_name)), list(_FIELDS))


@credential_set.command("show")
@registry_option
@click.option("--name", "-n", "name", required=True, help="Name of the credential set.")
@connection_options
@click.pass_context
def show_credential_set(ctx: click.Context, registry_name: str, name: str) -> None:
    """Show a credential set (its password masked)."""
    emit_record(ctx, management_client(ctx).call("GET", _path(registry_name, name)), _FIELDS)


@service_principal_flags_renamed
@credential_set.command("update")
@registry_option
@click.option("--name", "-n", "name", required=True, help="Name of the credential set.")
@click.option("--login-server", "-l", help="The upstream's host[:port].")
@click.option("--username", "-u", "username", help="User name at the upstream.")
@click.option("--password", "-p", "password", help=_PASSWORD_HELP)
@connection_options
@click.pass_context
def update_credential_set(
    ctx: click.Context,
    registry_name: str,
    name: str,
    login_server: str | None,
    upstream_username: str | None,
    upstream_password: str | None,
) -> None:
    """Change a credential set's login server, user name or password."""
    body: dict[str, Any] = {
        "loginServer": login_server,
        "username": upstream_username,
        "password": _password(upstream_password),
    }
    body = {k: v for k, v in body.items() if v is not None}
    if not body:
        raise CliError("nothing to update")
    data = management_client(ctx).call("PATCH", _path(registry_name, name), body)
    emit_record(ctx, data, _FIELDS)


@credential_set.command("delete")
@registry_option
@click.option("--name", "-n", "name", required=True, help="Name of the credential set.")
@yes_option
@connection_options
@click.pass_context
def delete_credential_set(ctx: click.Context, registry_name: str, name: str, yes: bool) -> None:
    """Delete a credential set."""
    confirm(yes, f"Delete credential set {name}?")
    management_client(ctx).call("DELETE", _path(registry_name, name))
