"""`portside replication ...`, modelled on `az acr replication`, plus `status`, which ACR lacks:
per location, whether every blob of an image is there and how many bytes are pending."""

from __future__ import annotations

import time
from typing import Any

import click

from portside.cli.remote.client import (
    CliError,
    Column,
    connection_options,
    emit,
    emit_record,
    management_client,
)
from portside.cli.remote.options import confirm, registry_option, yes_option

__all__ = ["replication"]

_FIELDS = (
    ("Location", "location"),
    ("Region endpoint enabled", "regionEndpointEnabled"),
    ("Provisioning state", "provisioningState"),
    ("Created", "createdAt"),
)
_STATUS_COLUMNS: list[Column] = [
    ("Location", "location"),
    ("Complete", lambda s: "yes" if s["complete"] else "no"),
    ("Blobs present", lambda s: f"{s['present']}/{s['blobs']}" if s["present"] else s["blobs"]),
    ("Pending bytes", "pendingBytes"),
    ("Failing", "failing"),
    ("Storage", "storage"),
    ("Routing", lambda s: "on" if s["regionEndpointEnabled"] else "off"),
    ("Last error", lambda s: (s.get("lastError") or "")[:60]),
]
_BOOL = click.BOOL


def _path(registry: str, location: str | None = None) -> str:
    base = f"/registries/{registry}/replications"
    return base if location is None else f"{base}/{location}"


@click.group()
def replication() -> None:
    """Geo-replication: the locations a registry's content is stored in."""


@replication.command("create")
@registry_option
@click.option("--location", "-l", required=True, help="A location the deployment knows.")
@click.option("--region-endpoint-enabled", type=_BOOL, default=True, show_default=True)
@connection_options
@click.pass_context
def create_replication(
    ctx: click.Context, registry_name: str, location: str, region_endpoint_enabled: bool
) -> None:
    """Replicate the registry to LOCATION: its worker copies every image there."""
    body = {"location": location, "regionEndpointEnabled": region_endpoint_enabled}
    emit_record(ctx, management_client(ctx).call("POST", _path(registry_name), body), _FIELDS)


@replication.command("list")
@registry_option
@connection_options
@click.pass_context
def list_replications(ctx: click.Context, registry_name: str) -> None:
    """List the locations the registry is replicated to."""
    emit(ctx, management_client(ctx).call("GET", _path(registry_name)), list(_FIELDS))


@replication.command("show")
@registry_option
@click.option("--location", "-l", required=True)
@connection_options
@click.pass_context
def show_replication(ctx: click.Context, registry_name: str, location: str) -> None:
    """Show the registry's replication to LOCATION."""
    data = management_client(ctx).call("GET", _path(registry_name, location))
    emit_record(ctx, data, _FIELDS)


@replication.command("update")
@registry_option
@click.option("--location", "-l", required=True)
@click.option("--region-endpoint-enabled", type=_BOOL, required=True, help="false: out of routing.")
@connection_options
@click.pass_context
def update_replication(
    ctx: click.Context, registry_name: str, location: str, region_endpoint_enabled: bool
) -> None:
    """Take LOCATION out of routing (false) or back in (true)."""
    body = {"regionEndpointEnabled": region_endpoint_enabled}
    data = management_client(ctx).call("PATCH", _path(registry_name, location), body)
    emit_record(ctx, data, _FIELDS)


@replication.command("delete")
@registry_option
@click.option("--location", "-l", required=True)
@yes_option
@connection_options
@click.pass_context
def delete_replication(ctx: click.Context, registry_name: str, location: str, yes: bool) -> None:
    """Stop replicating the registry to LOCATION."""
    confirm(yes, f"Stop replicating {registry_name} to {location}?")
    management_client(ctx).call("DELETE", _path(registry_name, location))


@replication.command("status")
@registry_option
@click.option("--image", help="REPO:TAG or REPO@DIGEST; without it, the backlog per location.")
@click.option("--wait", type=float, default=0.0, help="Poll up to this many seconds for complete.")
@connection_options
@click.pass_context
def replication_status(
    ctx: click.Context, registry_name: str, image: str | None, wait: float
) -> None:
    """Per location: every blob present? bytes pending? storage reachable?"""
    client = management_client(ctx)
    params = {"image": image} if image else None
    deadline = time.monotonic() + wait
    while True:
        data: dict[str, Any] = client.call("GET", f"{_path(registry_name)}/status", params=params)
        done = all(one["complete"] for one in data["locations"])
        if done or time.monotonic() >= deadline:
            break
        pending = sum(one["pendingBytes"] for one in data["locations"])
        click.echo(f"waiting: {pending} bytes pending", err=True)
        time.sleep(1.0)
    emit(ctx, data["locations"], _STATUS_COLUMNS)
    if wait and not done:
        raise CliError(f"not complete after {wait:g} s")
