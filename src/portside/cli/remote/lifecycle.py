"""`portside config ...`: a registry's lifecycle policies, modelled on `az acr config`.

- `config retention update -r REG --days N --status enabled|disabled`: delete manifests
  untagged for more than N days (0-365; 0: at the next run of the lifecycle job);
- `config soft-delete update -r REG --days N --status enabled|disabled`: deleted manifests
  and tags stay restorable N days (1-90) in the recycle bin;
- `config referrers update -r REG --keep-orphans true|false`: keep referrers (signatures,
  SBOMs) when their subject is deleted;
- `config keep-rule create|list|delete`: keep the newest N tags matching an expression in the
  matching repositories (Portside's own; ACR has none);
- `config show -r REG`: all of the above.
"""

from __future__ import annotations

from typing import Any

import click

from portside.cli.remote.client import (
    CliError,
    Column,
    ManagementClient,
    connection_options,
    emit,
    emit_record,
    management_client,
    output_format,
)
from portside.cli.remote.options import registry_option

__all__ = ["config"]

_STATUS = click.option(
    "--status", type=click.Choice(["enabled", "disabled"]), help="Switch the policy on or off."
)
_DEFAULT_DAYS = 7
"""Days a policy switched on without --days keeps (ACR's default for both)."""
_POLICY_FIELDS = (
    ("Untagged retention (days)", "retentionUntaggedDays"),
    ("Soft delete (days)", "softDeleteDays"),
    ("Keep orphan referrers", "keepOrphanReferrers"),
)
_RULE_COLUMNS: list[Column] = [
    ("Id", "id"),
    ("Repositories", "repositories"),
    ("Tag filter", "tagFilter"),
    ("Keep last", "keepLast"),
    ("Created", "creationDate"),
]


def _path(registry_name: str) -> str:
    return f"/registries/{registry_name}/policies"


def _show(ctx: click.Context, data: dict[str, Any]) -> None:
    if output_format(ctx) == "json":
        emit_record(ctx, data, _POLICY_FIELDS)
        return
    shown = {key: "disabled" if data.get(key) is None else data[key] for _, key in _POLICY_FIELDS}
    emit_record(ctx, shown, _POLICY_FIELDS)


def _update(
    ctx: click.Context, registry_name: str, key: str, days: int | None, status: str | None
) -> None:
    """Switch one day-counted policy on (with `days`, the current count or the default) or
    off, leaving the others as they are."""
    if days is None and status is None:
        raise CliError("nothing to update: give --days and/or --status")
    client = management_client(ctx)
    current = _current(client, registry_name)
    if status == "disabled":
        if days is not None:
            raise CliError("--days cannot be used with --status disabled")
        current[key] = None
    else:
        current[key] = days if days is not None else current.get(key) or _DEFAULT_DAYS
    _show(ctx, client.call("PUT", _path(registry_name), current))


def _current(client: ManagementClient, registry_name: str) -> dict[str, Any]:
    found = client.call("GET", _path(registry_name))
    return {key: found.get(key) for _, key in _POLICY_FIELDS}


@click.group("config")
def config() -> None:
    """Lifecycle policies of a registry: retention, soft delete, referrers, keep rules."""


@config.command("show")
@registry_option
@connection_options
@click.pass_context
def show_policies(ctx: click.Context, registry_name: str) -> None:
    """Show the registry's lifecycle policies."""
    _show(ctx, management_client(ctx).call("GET", _path(registry_name)))


@config.group("retention")
def retention() -> None:
    """Retention of untagged manifests, as `az acr config retention`."""


# `config retention show` shows every policy, as `config show` does.
retention.add_command(show_policies)


@retention.command("update")
@registry_option
@click.option(
    "--days",
    type=click.IntRange(0, 365),
    help="Delete manifests untagged for more than this many days (0: at the next run).",
)
@_STATUS
@connection_options
@click.pass_context
def update_retention(
    ctx: click.Context, registry_name: str, days: int | None, status: str | None
) -> None:
    """Switch untagged-manifest retention on or off, or change its days."""
    _update(ctx, registry_name, "retentionUntaggedDays", days, status)


@config.group("soft-delete")
def soft_delete() -> None:
    """The recycle bin, as `az acr config soft-delete`."""


@soft_delete.command("update")
@registry_option
@click.option(
    "--days", type=click.IntRange(1, 90), help="Keep deleted items restorable this many days."
)
@_STATUS
@connection_options
@click.pass_context
def update_soft_delete(
    ctx: click.Context, registry_name: str, days: int | None, status: str | None
) -> None:
    """Switch soft delete on or off, or change its days."""
    _update(ctx, registry_name, "softDeleteDays", days, status)


@config.group("referrers")
def referrers() -> None:
    """What happens to referrers (signatures, SBOMs) whose subject is deleted."""


@referrers.command("update")
@registry_option
@click.option(
    "--keep-orphans",
    type=click.BOOL,
    required=True,
    help="true: keep them; false (the default): delete them with their subject.",
)
@connection_options
@click.pass_context
def update_referrers(ctx: click.Context, registry_name: str, keep_orphans: bool) -> None:
    """Keep or collect referrers when their subject manifest is deleted."""
    client = management_client(ctx)
    current = _current(client, registry_name)
    current["keepOrphanReferrers"] = keep_orphans
    _show(ctx, client.call("PUT", _path(registry_name), current))


@config.group("keep-rule")
def keep_rule() -> None:
    """Keep-last-N rules: the lifecycle job deletes older matching tags."""


@keep_rule.command("create")
@registry_option
@click.option(
    "--repositories",
    default="*",
    show_default=True,
    help="Repositories it applies to: *, a name, or prefix/*.",
)
@click.option(
    "--tag-filter",
    default=".*",
    show_default=True,
    help="Regular expression the tags must contain a match of (anchor with ^...$).",
)
@click.option("--keep", type=click.IntRange(1, 10_000), required=True, help="Tags to keep.")
@connection_options
@click.pass_context
def create_rule(
    ctx: click.Context, registry_name: str, repositories: str, tag_filter: str, keep: int
) -> None:
    """Keep the newest N matching tags of each matching repository."""
    body = {"repositories": repositories, "tagFilter": tag_filter, "keepLast": keep}
    rule = management_client(ctx).call("POST", f"/registries/{registry_name}/retention-rules", body)
    emit(ctx, [rule] if output_format(ctx) == "table" else rule, _RULE_COLUMNS)


@keep_rule.command("list")
@registry_option
@connection_options
@click.pass_context
def list_rules(ctx: click.Context, registry_name: str) -> None:
    """List the registry's keep-last-N rules."""
    rules = management_client(ctx).call("GET", f"/registries/{registry_name}/retention-rules")
    emit(ctx, rules, _RULE_COLUMNS)


@keep_rule.command("delete")
@click.argument("rule_id", type=int)
@registry_option
@connection_options
@click.pass_context
def delete_rule(ctx: click.Context, rule_id: int, registry_name: str) -> None:
    """Delete a keep-last-N rule (by the id `keep-rule list` shows)."""
    management_client(ctx).call("DELETE", f"/registries/{registry_name}/retention-rules/{rule_id}")
    if output_format(ctx) == "table":
        click.echo(f"Deleted retention rule {rule_id}.", err=True)
