"""`portside sp ...`, `portside role assignment ...` and `portside signing-key rotate|retire`.

Service principals are application identities (their id is the user name, a secret the
password), deployment-wide; role assignments give them (or federated subjects and groups) a
role in one registry: AcrPull, AcrPush, AcrDelete, Reader, Contributor or Owner. A service
principal with Contributor on a whole registry may manage it with this CLI (`--username ID
--password SECRET`); Owner may also assign roles there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from portside.cli.remote.client import (
    Column,
    connection_options,
    emit,
    emit_generated,
    emit_record,
    emit_with_secrets,
    management_client,
)
from portside.cli.remote.options import confirm, expiration_option, registry_option, yes_option

__all__ = ["role", "signing_key", "sp"]

_ROLES = click.Choice(["AcrPull", "AcrPush", "AcrDelete", "Reader", "Contributor", "Owner"])
_SECRET_COLUMNS: list[Column] = [
    ("Secret", "name"),
    ("Created", "creationDateTime"),
    ("Expires", "expiry"),
]
# One assignment per row when listed, one per field when shown.
_ASSIGNMENT_FIELDS = (
    ("Id", "id"),
    ("Registry", "registry"),
    ("Role", "role"),
    ("Assignee", "assignee"),
    ("Type", "assigneeType"),
    ("Issuer", "issuer"),
    ("Repositories", "repositories"),
)
_PRINCIPAL_FIELDS = (("Id (user name)", "id"), ("Name", "name"), ("Created", "creationDate"))


def _show_principal(ctx: click.Context, data: dict[str, Any]) -> None:
    secrets = data.get("secrets", [])
    emit_with_secrets(ctx, data, _PRINCIPAL_FIELDS, secrets, _SECRET_COLUMNS)


@click.group()
def sp() -> None:
    """Service principals: application identities that registries grant roles to."""


@sp.command("create")
@click.argument("name")
@expiration_option("Validity of the secret.")
@connection_options
@click.pass_context
def create_principal(ctx: click.Context, name: str, expiration_in_days: int | None) -> None:
    """Create service principal NAME; its id and secret are printed (the secret once)."""
    body: dict[str, Any] = {"name": name}
    if expiration_in_days:
        body["expirationInDays"] = expiration_in_days
    _show_principal(ctx, management_client(ctx).call("POST", "/service-principals", body))


@sp.command("list")
@connection_options
@click.pass_context
def list_principals(ctx: click.Context) -> None:
    """List service principals."""
    data = management_client(ctx).call("GET", "/service-principals")
    emit(
        ctx,
        data,
        [
            ("Id", "id"),
            ("Name", "name"),
            ("Secrets", lambda p: [s["name"] for s in p.get("secrets", [])]),
            ("Created", "creationDate"),
        ],
    )


@sp.command("show")
@click.argument("principal_id", metavar="ID")
@connection_options
@click.pass_context
def show_principal(ctx: click.Context, principal_id: str) -> None:
    """Show service principal ID."""
    _show_principal(ctx, management_client(ctx).call("GET", f"/service-principals/{principal_id}"))


@sp.command("delete")
@click.argument("principal_id", metavar="ID")
@yes_option
@connection_options
@click.pass_context
def delete_principal(ctx: click.Context, principal_id: str, yes: bool) -> None:
    """Delete service principal ID with its secrets and role assignments."""
    confirm(yes, f"Delete service principal {principal_id}?")
    management_client(ctx).call("DELETE", f"/service-principals/{principal_id}")


@sp.group("credential")
def sp_credential() -> None:
    """Secrets of a service principal."""


@sp_credential.command("reset")
@click.argument("principal_id", metavar="ID")
@click.option("--append", is_flag=True, help="Keep the existing secrets.")
@expiration_option("Validity of the new secret.")
@connection_options
@click.pass_context
def reset_secret(
    ctx: click.Context, principal_id: str, append: bool, expiration_in_days: int | None
) -> None:
    """Give service principal ID a new secret (replacing the others unless --append)."""
    body: dict[str, Any] = {"reset": not append}
    if expiration_in_days:
        body["expirationInDays"] = expiration_in_days
    path = f"/service-principals/{principal_id}/credentials"
    secret = management_client(ctx).call("POST", path, body)
    emit_generated(ctx, secret, [secret])


@click.group()
def role() -> None:
    """Roles of service principals, federated subjects and groups in registries."""


@role.group("assignment")
def assignment() -> None:
    """Create, list and delete role assignments."""


@assignment.command("create")
@registry_option
@click.option("--role", "role_name", type=_ROLES, required=True, help="Role to give.")
@click.option("--assignee", required=True, help="Service principal id, subject or group.")
@click.option(
    "--assignee-type",
    type=click.Choice(["sp", "subject", "group"]),
    default="sp",
    show_default=True,
    help="What --assignee names.",
)
@click.option(
    "--issuer",
    help="Trusted issuer (`iss`) of a subject or group (default: the only trusted issuer).",
)
@click.option(
    "--repositories", default="*", show_default=True, help="`*`, a repository or `prefix/*`."
)
@connection_options
@click.pass_context
def create_assignment(
    ctx: click.Context,
    registry_name: str,
    role_name: str,
    assignee: str,
    assignee_type: str,
    issuer: str | None,
    repositories: str,
) -> None:
    """Assign a role in a registry (a subject or group of a federated issuer: with --issuer)."""
    body = {
        "role": role_name,
        "assignee": assignee,
        "assigneeType": assignee_type,
        "repositories": repositories,
    }
    if issuer is not None:
        body["issuer"] = issuer
    path = f"/registries/{registry_name}/role-assignments"
    data = management_client(ctx).call("POST", path, body)
    emit_record(ctx, data, _ASSIGNMENT_FIELDS)


@assignment.command("list")
@click.option("--registry", "-r", "registry_name", help="Only in this registry.")
@click.option("--assignee", help="Only of this assignee.")
@connection_options
@click.pass_context
def list_assignments(ctx: click.Context, registry_name: str | None, assignee: str | None) -> None:
    """List role assignments (everywhere needs the administrator)."""
    path = f"/registries/{registry_name}/role-assignments" if registry_name else "/role-assignments"
    params = {"assignee": assignee} if assignee else None
    emit(ctx, management_client(ctx).call("GET", path, params=params), _ASSIGNMENT_FIELDS)


@assignment.command("delete")
@click.argument("assignment_id", metavar="ID", type=click.IntRange(1, 2**31 - 1))
@registry_option
@connection_options
@click.pass_context
def delete_assignment(ctx: click.Context, assignment_id: int, registry_name: str) -> None:
    """Delete role assignment ID of a registry."""
    path = f"/registries/{registry_name}/role-assignments/{assignment_id}"
    management_client(ctx).call("DELETE", path)


@click.group("signing-key")
def signing_key() -> None:
    """The key that signs the deployment's tokens."""


@signing_key.command("rotate")
@click.option("--algorithm", type=click.Choice(["ES256", "RS256"]), help="Of the new key.")
@connection_options
@click.pass_context
def rotate(ctx: click.Context, algorithm: str | None) -> None:
    """Sign tokens with a new key from now on (tokens signed before keep working)."""
    body = {"algorithm": algorithm} if algorithm else {}
    data = management_client(ctx).call("POST", "/signing-keys/rotate", body)
    emit_record(ctx, data, (("Key id", "kid"),))


@signing_key.command("retire")
@click.option(
    "--kid", required=True, help="The key's id (a token's `kid`; /oauth2/keys lists them)."
)
@connection_options
@click.pass_context
def retire(ctx: click.Context, kid: str) -> None:
    """Remove a key that no longer signs (rotate first): tokens it signed stop working at once."""
    management_client(ctx).call("DELETE", f"/signing-keys/{quote(kid, safe='')}")
    click.echo(f"Retired signing key {kid}.", err=True)
