"""`portside token ...` and `portside scope-map ...`, modelled on `az acr token` and
`az acr scope-map`.

`--repository REPO ACTION...` takes a repository and its actions (`content/read`,
`content/write`, `content/delete`, `metadata/read`, `metadata/write`), as az does, and may be
repeated. Give a command's positional NAME before these options.
"""

from __future__ import annotations

from typing import Any

import click

from portside.cli.remote.arguments import RepositoryActionsCommand, split_repository
from portside.cli.remote.client import (
    CliError,
    Column,
    connection_options,
    emit,
    emit_generated,
    emit_record,
    emit_with_secrets,
    management_client,
)
from portside.cli.remote.options import confirm, expiration_option, registry_option, yes_option

__all__ = ["scope_map", "token"]

_STATUS = click.Choice(["enabled", "disabled"])
_TOKEN_FIELDS = (
    ("Name", "name"),
    ("Scope map", "scopeMap"),
    ("Status", "status"),
    ("Created", "creationDate"),
)


def _passwords(token: dict[str, Any]) -> list[dict[str, Any]]:
    passwords = token.get("credentials", {}).get("passwords", [])
    return passwords if isinstance(passwords, list) else []


def _show_token(ctx: click.Context, data: dict[str, Any]) -> None:
    emit_with_secrets(ctx, data, _TOKEN_FIELDS, _passwords(data), _PASSWORD_COLUMNS)


_PASSWORD_COLUMNS: list[Column] = [
    ("Password", "name"),
    ("Created", "creationDateTime"),
    ("Expires", "expiry"),
]


def _repositories(values: tuple[str, ...]) -> list[dict[str, Any]]:
    pairs = [split_repository(value) for value in values]
    return [{"repository": repo, "actions": actions} for repo, actions in pairs]


@click.group()
def token() -> None:
    """Tokens: user names limited to the repositories and actions of a scope map."""


@token.command("create", cls=RepositoryActionsCommand)
@click.argument("name")
@registry_option
@click.option("--scope-map", help="Bind the token to this existing scope map.")
@click.option(
    "--repository",
    "repositories",
    multiple=True,
    help="REPO ACTION...: make a scope map <name>-scope-map with these (repeatable).",
)
@click.option("--status", type=_STATUS, default="enabled", show_default=True)
@expiration_option("Validity of the generated passwords.")
@click.option("--no-passwords", is_flag=True, help="Generate no password now.")
@connection_options
@click.pass_context
def create_token(
    ctx: click.Context,
    name: str,
    registry_name: str,
    scope_map: str | None,
    repositories: tuple[str, ...],
    status: str,
    expiration_in_days: int | None,
    no_passwords: bool,
) -> None:
    """Create token NAME; its two passwords are printed once."""
    if (scope_map is None) == (not repositories):
        raise CliError("give either --scope-map or --repository REPO ACTION...")
    body: dict[str, Any] = {"name": name, "status": status, "noPasswords": no_passwords}
    if scope_map:
        body["scopeMap"] = scope_map
    body["repositories"] = _repositories(repositories)
    if expiration_in_days:
        body["expirationInDays"] = expiration_in_days
    client = management_client(ctx)
    _show_token(ctx, client.call("POST", f"/registries/{registry_name}/tokens", body))


@token.command("list")
@registry_option
@connection_options
@click.pass_context
def list_tokens(ctx: click.Context, registry_name: str) -> None:
    """List the registry's tokens."""
    data = management_client(ctx).call("GET", f"/registries/{registry_name}/tokens")
    emit(
        ctx,
        data,
        [
            ("Name", "name"),
            ("Scope map", "scopeMap"),
            ("Status", "status"),
            ("Passwords", lambda t: [p["name"] for p in _passwords(t)]),
            ("Created", "creationDate"),
        ],
    )


@token.command("show")
@click.argument("name")
@registry_option
@connection_options
@click.pass_context
def show_token(ctx: click.Context, name: str, registry_name: str) -> None:
    """Show token NAME (password names and times, never values)."""
    _show_token(
        ctx, management_client(ctx).call("GET", f"/registries/{registry_name}/tokens/{name}")
    )


@token.command("update")
@click.argument("name")
@registry_option
@click.option("--scope-map", help="Bind the token to this scope map.")
@click.option("--status", type=_STATUS, help="Enable or disable the token.")
@connection_options
@click.pass_context
def update_token(
    ctx: click.Context, name: str, registry_name: str, scope_map: str | None, status: str | None
) -> None:
    """Rebind token NAME to another scope map, or enable or disable it."""
    body = {k: v for k, v in (("scopeMap", scope_map), ("status", status)) if v is not None}
    if not body:
        raise CliError("nothing to update: give --scope-map and/or --status")
    path = f"/registries/{registry_name}/tokens/{name}"
    _show_token(ctx, management_client(ctx).call("PATCH", path, body))


@token.command("delete")
@click.argument("name")
@registry_option
@yes_option
@connection_options
@click.pass_context
def delete_token(ctx: click.Context, name: str, registry_name: str, yes: bool) -> None:
    """Delete token NAME and its passwords."""
    confirm(yes, f"Delete token {name}?")
    management_client(ctx).call("DELETE", f"/registries/{registry_name}/tokens/{name}")


def _chosen(password1: bool, password2: bool) -> list[str]:
    """The passwords `--password1` and `--password2` name; CliError if neither."""
    chosen = [p for p, wanted in (("password1", password1), ("password2", password2)) if wanted]
    if not chosen:
        raise CliError("give --password1 and/or --password2")
    return chosen


@token.group("credential")
def token_credential() -> None:
    """Generate or delete a token's passwords."""


@token_credential.command("generate")
@click.argument("name")
@registry_option
@click.option("--password1", is_flag=True, help="Replace password1.")
@click.option("--password2", is_flag=True, help="Replace password2.")
@expiration_option("Validity of the new password(s).")
@connection_options
@click.pass_context
def generate_password(
    ctx: click.Context,
    name: str,
    registry_name: str,
    password1: bool,
    password2: bool,
    expiration_in_days: int | None,
) -> None:
    """Generate new values for token NAME's password1 and/or password2 (printed once)."""
    chosen = _chosen(password1, password2)
    client = management_client(ctx)
    generated = []
    for password in chosen:
        body: dict[str, Any] = {"name": password}
        if expiration_in_days:
            body["expirationInDays"] = expiration_in_days
        path = f"/registries/{registry_name}/tokens/{name}/credentials"
        generated.append(client.call("POST", path, body))
    emit_generated(ctx, generated, generated)


@token_credential.command("delete")
@click.argument("name")
@registry_option
@click.option("--password1", is_flag=True, help="Delete password1.")
@click.option("--password2", is_flag=True, help="Delete password2.")
@connection_options
@click.pass_context
def delete_password(
    ctx: click.Context, name: str, registry_name: str, password1: bool, password2: bool
) -> None:
    """Delete token NAME's password1 and/or password2."""
    chosen = _chosen(password1, password2)
    client = management_client(ctx)
    for password in chosen:
        client.call("DELETE", f"/registries/{registry_name}/tokens/{name}/credentials/{password}")


def _actions(values: tuple[str, ...]) -> list[str]:
    return [
        f"repositories/{repo}/{action}"
        for repo, actions in (split_repository(value) for value in values)
        for action in actions
    ]


_MAP_FIELDS = (
    ("Name", "name"),
    ("Type", "type"),
    ("Description", "description"),
    ("Actions", "actions"),
    ("Created", "creationDate"),
)


@click.group("scope-map")
def scope_map() -> None:
    """Scope maps: named sets of repository actions that tokens are bound to."""


@scope_map.command("create", cls=RepositoryActionsCommand)
@click.argument("name")
@registry_option
@click.option(
    "--repository",
    "repositories",
    multiple=True,
    help="REPO ACTION...: actions on a repository, `prefix/*` or `*` (repeatable).",
)
@click.option("--description", default="", help="What the scope map is for.")
@connection_options
@click.pass_context
def create_scope_map(
    ctx: click.Context,
    name: str,
    registry_name: str,
    repositories: tuple[str, ...],
    description: str,
) -> None:
    """Create scope map NAME, e.g. `--repository hello-world content/write content/read`."""
    body = {"name": name, "actions": _actions(repositories), "description": description}
    data = management_client(ctx).call("POST", f"/registries/{registry_name}/scope-maps", body)
    emit_record(ctx, data, _MAP_FIELDS)


@scope_map.command("list")
@registry_option
@connection_options
@click.pass_context
def list_scope_maps(ctx: click.Context, registry_name: str) -> None:
    """List the registry's scope maps (the three system maps included)."""
    data = management_client(ctx).call("GET", f"/registries/{registry_name}/scope-maps")
    emit(
        ctx,
        data,
        [
            ("Name", "name"),
            ("Type", "type"),
            ("Description", "description"),
            ("Actions", "actions"),
        ],
    )


@scope_map.command("show")
@click.argument("name")
@registry_option
@connection_options
@click.pass_context
def show_scope_map(ctx: click.Context, name: str, registry_name: str) -> None:
    """Show scope map NAME."""
    path = f"/registries/{registry_name}/scope-maps/{name}"
    emit_record(ctx, management_client(ctx).call("GET", path), _MAP_FIELDS)


@scope_map.command("update", cls=RepositoryActionsCommand)
@click.argument("name")
@registry_option
@click.option("--add-repository", "added", multiple=True, help="REPO ACTION...: add actions.")
@click.option("--remove-repository", "removed", multiple=True, help="REPO ACTION...: remove.")
@click.option("--description", help="New description.")
@connection_options
@click.pass_context
def update_scope_map(
    ctx: click.Context,
    name: str,
    registry_name: str,
    added: tuple[str, ...],
    removed: tuple[str, ...],
    description: str | None,
) -> None:
    """Add or remove actions of scope map NAME, or change its description."""
    body: dict[str, Any] = {"addActions": _actions(added), "removeActions": _actions(removed)}
    if description is not None:
        body["description"] = description
    if not (added or removed or description is not None):
        raise CliError(
            "nothing to update: give --add-repository, --remove-repository or --description"
        )
    path = f"/registries/{registry_name}/scope-maps/{name}"
    emit_record(ctx, management_client(ctx).call("PATCH", path, body), _MAP_FIELDS)


@scope_map.command("delete")
@click.argument("name")
@registry_option
@yes_option
@connection_options
@click.pass_context
def delete_scope_map(ctx: click.Context, name: str, registry_name: str, yes: bool) -> None:
    """Delete scope map NAME (no token may use it)."""
    confirm(yes, f"Delete scope map {name}?")
    management_client(ctx).call("DELETE", f"/registries/{registry_name}/scope-maps/{name}")
