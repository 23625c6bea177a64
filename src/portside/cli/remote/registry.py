"""`portside registry ...` and `portside credential ...`, modelled on `az acr` and
`az acr credential`; `registry show-usage` is `az acr show-usage`, and `registry update
--quota-*` sets Portside's quota overrides (docs/quotas.md), `--read-ops-per-minute` and
`--write-ops-per-minute` its request rate limits (docs/operations.md).

The admin user's passwords are stored as hashes only, so unlike `az acr credential show`,
`credential show` cannot print them: they are printed once, when generated (`registry create
--admin-enabled true`, `registry update --admin-enabled true`, `credential renew`).
"""

from __future__ import annotations

from typing import Any

import click

from portside.cli.remote.arguments import RESET, QuotaValue
from portside.cli.remote.client import (
    CliError,
    connection_options,
    emit,
    emit_record,
    emit_secrets,
    emit_with_secrets,
    management_client,
    output_format,
)
from portside.cli.remote.options import confirm, registry_option, yes_option

__all__ = ["credential", "registry"]

_FIELDS = (
    ("Name", "name"),
    ("Login server", "loginServer"),
    ("SKU", "sku"),
    ("Admin user enabled", "adminUserEnabled"),
    ("Anonymous pull enabled", "anonymousPullEnabled"),
    ("Immutable tags", "immutableTagsEnabled"),
    ("Created", "creationDate"),
    ("Default registry", "default"),
    ("Storage used (bytes)", "storageBytes"),
)
# Quota overrides: shown when set (otherwise the SKU's default applies; see show-usage).
_QUOTAS = (
    ("Quota: storage (bytes)", "quotaStorageBytes"),
    ("Quota: repositories", "quotaRepositories"),
    ("Quota: tokens", "quotaTokens"),
    ("Quota: scope maps", "quotaScopeMaps"),
    ("Quota: webhooks", "quotaWebhooks"),
)
# Request rate limits in force (the override, else the SKU's; none: unlimited).
_RATES = (
    ("Reads per minute", "readOpsPerMinuteLimit"),
    ("Writes per minute", "writeOpsPerMinuteLimit"),
)
_SKU = click.Choice(["Basic", "Standard", "Premium"])
_RESET_HELP = f"; {RESET!r} goes back to the SKU's default."


def _show_registry(ctx: click.Context, data: dict[str, Any]) -> None:
    overrides = tuple(field for field in _QUOTAS if data.get(field[1]) is not None)
    if output_format(ctx) != "json":  # JSON keeps null for unlimited
        data = {**data, **{key: data.get(key) or "unlimited" for _, key in _RATES}}
    emit_record(ctx, data, _FIELDS + overrides + _RATES)
    emit_secrets(ctx, data.get("passwords") or [])


@click.group()
def registry() -> None:
    """Create, list, show, update and delete registries."""


@registry.command("create")
@click.argument("name")
@click.option("--sku", type=_SKU, default="Standard", show_default=True, help="Service tier.")
@click.option("--admin-enabled", type=click.BOOL, default=False, help="Enable the admin user.")
@connection_options
@click.pass_context
def create_registry(ctx: click.Context, name: str, sku: str, admin_enabled: bool) -> None:
    """Create registry NAME; it prints its login server (127.0.0.1:PORT from a server on
    loopback, else NAME.<domain>), the address to push to and pull from."""
    body = {"name": name, "sku": sku, "adminUserEnabled": admin_enabled}
    _show_registry(ctx, management_client(ctx).call("POST", "/registries", body))


@registry.command("list")
@connection_options
@click.pass_context
def list_registries(ctx: click.Context) -> None:
    """List registries."""
    data = management_client(ctx).call("GET", "/registries")
    emit(
        ctx,
        data,
        [
            ("Name", "name"),
            ("Login server", "loginServer"),
            ("SKU", "sku"),
            ("Admin", "adminUserEnabled"),
            ("Anonymous pull", "anonymousPullEnabled"),
            ("Created", "creationDate"),
        ],
    )


@registry.command("show")
@click.argument("name")
@connection_options
@click.pass_context
def show_registry(ctx: click.Context, name: str) -> None:
    """Show registry NAME."""
    _show_registry(ctx, management_client(ctx).call("GET", f"/registries/{name}"))


@registry.command("update")
@click.argument("name")
@click.option("--sku", type=_SKU, help="Service tier.")
@click.option("--admin-enabled", type=click.BOOL, help="Enable or disable the admin user.")
@click.option("--anonymous-pull-enabled", type=click.BOOL, help="Anyone may pull.")
@click.option("--immutable-tags", type=click.BOOL, help="Tags cannot be moved once pushed.")
@click.option(
    "--quota-storage",
    type=QuotaValue(sizes=True),
    help="Storage limit: bytes, or with a unit B, KiB, MiB, GiB, TiB (10GiB)" + _RESET_HELP,
)
@click.option("--quota-repositories", type=QuotaValue(), help="Most repositories" + _RESET_HELP)
@click.option("--quota-tokens", type=QuotaValue(), help="Most tokens" + _RESET_HELP)
@click.option("--quota-scope-maps", type=QuotaValue(), help="Most user scope maps" + _RESET_HELP)
@click.option(
    "--quota-webhooks", type=QuotaValue(), help="Most webhooks (not enforced yet)" + _RESET_HELP
)
@click.option(
    "--read-ops-per-minute",
    type=QuotaValue(),
    help="Most reads (GET, HEAD) per minute, 0 for unlimited" + _RESET_HELP,
)
@click.option(
    "--write-ops-per-minute",
    type=QuotaValue(),
    help="Most writes (push, delete, ...) per minute, 0 for unlimited" + _RESET_HELP,
)
@connection_options
@click.pass_context
def update_registry(
    ctx: click.Context,
    name: str,
    sku: str | None,
    admin_enabled: bool | None,
    anonymous_pull_enabled: bool | None,
    immutable_tags: bool | None,
    quota_storage: int | str | None,
    quota_repositories: int | str | None,
    quota_tokens: int | str | None,
    quota_scope_maps: int | str | None,
    quota_webhooks: int | str | None,
    read_ops_per_minute: int | str | None,
    write_ops_per_minute: int | str | None,
) -> None:
    """Change settings of registry NAME (`true`/`false` values), its quota and request rate
    limit overrides."""
    body: dict[str, object] = {
        key: value
        for key, value in (
            ("sku", sku),
            ("adminUserEnabled", admin_enabled),
            ("anonymousPullEnabled", anonymous_pull_enabled),
            ("immutableTagsEnabled", immutable_tags),
        )
        if value is not None
    }
    for field, value in (
        ("quotaStorageBytes", quota_storage),
        ("quotaRepositories", quota_repositories),
        ("quotaTokens", quota_tokens),
        ("quotaScopeMaps", quota_scope_maps),
        ("quotaWebhooks", quota_webhooks),
        ("readOpsPerMinute", read_ops_per_minute),
        ("writeOpsPerMinute", write_ops_per_minute),
    ):
        if value is not None:
            body[field] = None if value == RESET else value
    if not body:
        raise CliError("nothing to update: give at least one setting")
    _show_registry(ctx, management_client(ctx).call("PATCH", f"/registries/{name}", body))


@registry.command("show-usage")
@click.argument("name", required=False)
@click.option("--name", "-n", "name_option", help="Registry name (or give it as NAME).")
@connection_options
@click.pass_context
def show_usage(ctx: click.Context, name: str | None, name_option: str | None) -> None:
    """Show what registry NAME uses of each quota, and the limits (as `az acr show-usage`).

    Storage counts each distinct blob once, however many repositories share it.
    """
    if name and name_option and name != name_option:
        raise CliError(f"two registry names given: {name} and {name_option}")
    chosen = name or name_option
    if not chosen:
        raise CliError("give the registry: portside registry show-usage -n NAME")
    data = management_client(ctx).call("GET", f"/registries/{chosen}/usage")
    if output_format(ctx) == "json":
        emit(ctx, data, [])
        return
    emit(
        ctx,
        data["value"],
        [
            ("Name", "name"),
            ("Current", "currentValue"),
            ("Limit", lambda u: "unlimited" if u.get("limit") is None else u["limit"]),
            ("Unit", "unit"),
        ],
    )


@registry.command("delete")
@click.argument("name")
@yes_option
@connection_options
@click.pass_context
def delete_registry(ctx: click.Context, name: str, yes: bool) -> None:
    """Delete registry NAME with all its repositories, tokens and settings."""
    confirm(yes, f"Delete registry {name} and everything in it?")
    management_client(ctx).call("DELETE", f"/registries/{name}")


@click.group()
def credential() -> None:
    """Show the admin user of a registry, renew its passwords."""


def _show_credentials(ctx: click.Context, data: dict[str, Any]) -> None:
    fields = (("Username", "username"), ("Admin user enabled", "adminUserEnabled"))
    columns = [("Password", "name"), ("Created", "creationDateTime")]
    emit_with_secrets(ctx, data, fields, data["passwords"], columns)


@credential.command("show")
@registry_option
@connection_options
@click.pass_context
def show_credentials(ctx: click.Context, registry_name: str) -> None:
    """Show the admin user's name and its passwords' names and creation times.

    Values cannot be shown (only hashes are stored); renew a password to get a new value.
    """
    data = management_client(ctx).call("GET", f"/registries/{registry_name}/credentials")
    _show_credentials(ctx, data)


@credential.command("renew")
@registry_option
@click.option(
    "--password-name",
    type=click.Choice(["password", "password2"]),
    required=True,
    help="Which password to replace.",
)
@connection_options
@click.pass_context
def renew_credentials(ctx: click.Context, registry_name: str, password_name: str) -> None:
    """Generate a new value for one admin password and print it (once)."""
    data = management_client(ctx).call(
        "POST", f"/registries/{registry_name}/credentials/renew", {"name": password_name}
    )
    _show_credentials(ctx, data)
