"""`portside cache ...`, modelled on `az acr cache`: rules that serve local repositories from
an upstream registry on first pull (docs/import-and-cache.md)."""

from __future__ import annotations

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

__all__ = ["cache"]

_FIELDS = (
    ("Name", "name"),
    ("Source", "sourceRepository"),
    ("Target", "targetRepository"),
    ("Credential set", "credentialSet"),
    ("TTL s", "ttlSeconds"),
    ("Push", "allowPush"),
    ("Created", "creationDate"),
)
_name_option = click.option("--name", "-n", "name", required=True, help="Cache rule name.")
_cred_set_option = click.option(
    "--cred-set", "-c", "cred_set", help="Credential set for the upstream (none: anonymous)."
)
_ttl_option = click.option(
    "--ttl",
    "ttl",
    type=click.IntRange(0),
    help="Seconds a cached tag is served before it is re-checked upstream (default 3600).",
)


def _path(registry: str, name: str | None = None) -> str:
    base = f"/registries/{registry}/cacheRules"
    return base if name is None else f"{base}/{name}"


@click.group()
def cache() -> None:
    """Cache rules: pull an upstream's images through this registry, storing them on first use."""


@cache.command("create")
@registry_option
@_name_option
@click.option(
    "--source-repo", "-s", required=True, help="HOST/path or HOST/path/* (any depth), upstream."
)
@click.option("--target-repo", "-t", required=True, help="path or path/*, in this registry.")
@_cred_set_option
@_ttl_option
@click.option("--allow-push", is_flag=True, help="Let clients push under the target too.")
@connection_options
@click.pass_context
def create_rule(
    ctx: click.Context,
    registry_name: str,
    name: str,
    source_repo: str,
    target_repo: str,
    cred_set: str | None,
    ttl: int | None,
    allow_push: bool,
) -> None:
    """Create a cache rule."""
    body: dict[str, Any] = {
        "name": name,
        "sourceRepository": source_repo,
        "targetRepository": target_repo,
        "allowPush": allow_push,
    }
    if cred_set:
        body["credentialSet"] = cred_set
    if ttl is not None:
        body["ttlSeconds"] = ttl
    emit_record(ctx, management_client(ctx).call("POST", _path(registry_name), body), _FIELDS)


@cache.command("list")
@registry_option
@connection_options
@click.pass_context
def list_rules(ctx: click.Context, registry_name: str) -> None:
    """List the registry's cache rules."""
    emit(ctx, management_client(ctx).call("GET", _path(registry_name)), list(_FIELDS))


@cache.command("show")
@registry_option
@_name_option
@connection_options
@click.pass_context
def show_rule(ctx: click.Context, registry_name: str, name: str) -> None:
    """Show a cache rule."""
    emit_record(ctx, management_client(ctx).call("GET", _path(registry_name, name)), _FIELDS)


@cache.command("update")
@registry_option
@_name_option
@_cred_set_option
@click.option("--remove-cred-set", is_flag=True, help="Pull from the upstream anonymously.")
@_ttl_option
@click.option("--allow-push/--deny-push", "allow_push", default=None, help="Allow pushes or not.")
@connection_options
@click.pass_context
def update_rule(
    ctx: click.Context,
    registry_name: str,
    name: str,
    cred_set: str | None,
    remove_cred_set: bool,
    ttl: int | None,
    allow_push: bool | None,
) -> None:
    """Change a cache rule's credential set, TTL or push permission."""
    body: dict[str, Any] = {}
    if cred_set and remove_cred_set:
        raise CliError("--cred-set and --remove-cred-set exclude each other")
    if cred_set:
        body["credentialSet"] = cred_set
    if remove_cred_set:
        body["credentialSet"] = ""
    if ttl is not None:
        body["ttlSeconds"] = ttl
    if allow_push is not None:
        body["allowPush"] = allow_push
    if not body:
        raise CliError("nothing to update")
    data = management_client(ctx).call("PATCH", _path(registry_name, name), body)
    emit_record(ctx, data, _FIELDS)


@cache.command("delete")
@registry_option
@_name_option
@yes_option
@connection_options
@click.pass_context
def delete_rule(ctx: click.Context, registry_name: str, name: str, yes: bool) -> None:
    """Delete a cache rule (what it cached stays)."""
    confirm(yes, f"Delete cache rule {name}?")
    management_client(ctx).call("DELETE", _path(registry_name, name))
