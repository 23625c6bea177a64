"""`portside webhook ...`, modelled on `az acr webhook`, plus `redeliver`, which ACR lacks.

Custom header values are sent to the server once (`--headers Key=Value`) and shown masked
afterwards. Payloads and delivery: docs/events.md.
"""

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
from portside.cli.remote.options import confirm, name_argument, registry_option, yes_option

__all__ = ["webhook"]

_ACTION_NAMES = ("push", "delete", "quarantine", "chart_push", "chart_delete")
_ACTIONS = click.Choice(_ACTION_NAMES)
_STATUS = click.Choice(["enabled", "disabled"])
_FIELDS = (
    ("Name", "name"),
    ("Actions", "actions"),
    ("Scope", "scope"),
    ("Status", "status"),
    ("Location", "location"),
    ("Created", "creationDate"),
)
_EVENT_COLUMNS: list[tuple[str, Any]] = [
    ("Id", "id"),
    ("Action", "action"),
    ("State", "state"),
    ("Attempts", "attempts"),
    ("Created", "creationDate"),
    ("Status", "responseStatus"),
    ("Duration ms", "durationMs"),
    ("Response", lambda e: (e.get("responseBody") or e.get("error") or "")[:60]),
]


def _headers(values: tuple[str, ...]) -> dict[str, str]:
    headers = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise CliError(f"a header is Key=Value, not {value!r}")
        headers[key] = text
    return headers


def _path(registry: str, name: str | None = None) -> str:
    base = f"/registries/{registry}/webhooks"
    return base if name is None else f"{base}/{name}"


class _SpacedActions(click.Command):
    """A command whose `--actions` takes several words, as `az acr webhook` does
    (`--actions push delete`), besides one per flag (`--actions push --actions delete`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Spread `--actions a b` into `--actions a --actions b`, then parse as click does."""
        return super().parse_args(ctx, _spread_actions(args))


def _spread_actions(args: list[str]) -> list[str]:
    """The words after `--actions` that are action names, each behind its own flag."""
    spread: list[str] = []
    after_flag = False
    for arg in args:
        if after_flag and arg in _ACTION_NAMES and spread[-1] != "--actions":
            spread.append("--actions")
        elif arg != "--actions" and arg not in _ACTION_NAMES:
            after_flag = False
        if arg == "--actions":
            after_flag = True
        spread.append(arg)
    return spread


@click.group()
def webhook() -> None:
    """Webhooks: an HTTP POST to a URI for each push or delete, retried until delivered."""


@webhook.command("create", cls=_SpacedActions)
@name_argument("webhook")
@registry_option
@click.option("--uri", required=True, help="Where events are POSTed.")
@click.option(
    "--actions", type=_ACTIONS, multiple=True, required=True, help="One or more (push delete ...)."
)
@click.option("--scope", default="", help="repo:tag, repo:* or repo (= repo:latest); all if empty.")
@click.option("--headers", "headers", multiple=True, help="Key=Value custom header (repeatable).")
@click.option("--status", type=_STATUS, default="enabled", show_default=True)
@click.option("--location", help="Fire push events once the image is complete in LOCATION.")
@connection_options
@click.pass_context
def create_webhook(
    ctx: click.Context,
    name: str,
    registry_name: str,
    uri: str,
    actions: tuple[str, ...],
    scope: str,
    headers: tuple[str, ...],
    status: str,
    location: str | None,
) -> None:
    """Create webhook NAME."""
    body = {
        "name": name,
        "serviceUri": uri,
        "actions": list(actions),
        "scope": scope,
        "customHeaders": _headers(headers),
        "status": status,
    }
    if location:
        body["location"] = location
    data = management_client(ctx).call("POST", _path(registry_name), body)
    emit_record(ctx, data, _FIELDS)


@webhook.command("list")
@registry_option
@connection_options
@click.pass_context
def list_webhooks(ctx: click.Context, registry_name: str) -> None:
    """List the registry's webhooks."""
    emit(ctx, management_client(ctx).call("GET", _path(registry_name)), list(_FIELDS))


@webhook.command("show")
@name_argument("webhook")
@registry_option
@connection_options
@click.pass_context
def show_webhook(ctx: click.Context, name: str, registry_name: str) -> None:
    """Show webhook NAME."""
    emit_record(ctx, management_client(ctx).call("GET", _path(registry_name, name)), _FIELDS)


@webhook.command("get-config")
@name_argument("webhook")
@registry_option
@connection_options
@click.pass_context
def webhook_config(ctx: click.Context, name: str, registry_name: str) -> None:
    """Show webhook NAME's URI and custom headers (values masked)."""
    data = management_client(ctx).call("GET", f"{_path(registry_name, name)}/config")
    emit_record(ctx, data, (("Service URI", "serviceUri"), ("Custom headers", "customHeaders")))


@webhook.command("update", cls=_SpacedActions)
@name_argument("webhook")
@registry_option
@click.option("--uri", help="Where events are POSTed.")
@click.option("--actions", type=_ACTIONS, multiple=True, help="Replace the actions.")
@click.option("--scope", help="Replace the scope ('' for everything).")
@click.option("--headers", "headers", multiple=True, help="Replace all custom headers.")
@click.option("--status", type=_STATUS)
@click.option("--location", help="Replace the location ('' for none: fire at push).")
@connection_options
@click.pass_context
def update_webhook(
    ctx: click.Context,
    name: str,
    registry_name: str,
    uri: str | None,
    actions: tuple[str, ...],
    scope: str | None,
    headers: tuple[str, ...],
    status: str | None,
    location: str | None,
) -> None:
    """Change webhook NAME."""
    body: dict[str, Any] = {"serviceUri": uri, "scope": scope, "status": status}
    if location is not None:
        body["location"] = location
    body = {k: v for k, v in body.items() if v is not None}
    if actions:
        body["actions"] = list(actions)
    if headers:
        body["customHeaders"] = _headers(headers)
    if not body:
        raise CliError("nothing to update")
    data = management_client(ctx).call("PATCH", _path(registry_name, name), body)
    emit_record(ctx, data, _FIELDS)


@webhook.command("delete")
@name_argument("webhook")
@registry_option
@yes_option
@connection_options
@click.pass_context
def delete_webhook(ctx: click.Context, name: str, registry_name: str, yes: bool) -> None:
    """Delete webhook NAME and its events."""
    confirm(yes, f"Delete webhook {name}?")
    management_client(ctx).call("DELETE", _path(registry_name, name))


@webhook.command("ping")
@name_argument("webhook")
@registry_option
@connection_options
@click.pass_context
def ping_webhook(ctx: click.Context, name: str, registry_name: str) -> None:
    """Send webhook NAME a ping event (see list-events for its delivery)."""
    data = management_client(ctx).call("POST", f"{_path(registry_name, name)}/ping")
    emit_record(ctx, data, (("Event", "id"),))


@webhook.command("list-events")
@name_argument("webhook")
@registry_option
@connection_options
@click.pass_context
def list_events(ctx: click.Context, name: str, registry_name: str) -> None:
    """Webhook NAME's recent events and deliveries, newest first (-o json: payloads too)."""
    data = management_client(ctx).call("GET", f"{_path(registry_name, name)}/events")
    emit(ctx, data, _EVENT_COLUMNS)


@webhook.command("redeliver")
@name_argument("webhook")
@registry_option
@click.option("--event", "event_id", required=True, help="The id of the event to send again.")
@connection_options
@click.pass_context
def redeliver(ctx: click.Context, name: str, registry_name: str, event_id: str) -> None:
    """Send an event of webhook NAME again, with the same id."""
    path = f"{_path(registry_name, name)}/events/{event_id}/redeliver"
    emit_record(
        ctx, management_client(ctx).call("POST", path), (("Event", "id"), ("State", "state"))
    )
