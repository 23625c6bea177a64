"""`portside issuer create|list|show|update|delete`: the OIDC issuers trusted for federated
sign-in (`/oauth2/exchange`), managed by the deployment administrator.

Issuers of the server's configuration file are listed too (source `config`) but can only be
changed there. `--jwks-file` reads a JWKS document here, on the machine running the CLI, and
sends it to the server, which stores it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from portside.cli.remote.client import (
    CliError,
    connection_options,
    emit,
    emit_record,
    management_client,
)
from portside.cli.remote.options import confirm, yes_option

__all__ = ["issuer"]

_MAX_JWKS_BYTES = 64 * 1024
"""The server's limit on an inline JWKS document."""

_FIELDS = (
    ("Name", "name"),
    ("Source", "source"),
    ("Issuer", "issuer"),
    ("Audience", "audience"),
    ("JWKS URL", "jwksUrl"),
    ("JWKS file", "jwksFile"),
    ("Groups claim", "groupsClaim"),
    ("Tenant", "tenant"),
    ("Portal client id", "portalClientId"),
    ("Portal client secret set", "portalClientSecretSet"),
    ("Created", "creationDate"),
    ("Updated", "lastUpdateDate"),
)

_jwks_url_option = click.option("--jwks-url", help="Where the issuer publishes its keys (JWKS).")
_jwks_file_option = click.option(
    "--jwks-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JWKS document on this machine, sent to the server (instead of --jwks-url).",
)


_portal_client_option = click.option(
    "--portal-client-id", help="OAuth client id at the issuer: the portal offers sign-in with it."
)
_portal_secret_option = click.option(
    "--portal-client-secret",
    envvar="PORTSIDE_PORTAL_CLIENT_SECRET",
    help="Its client secret, if the issuer wants one (stored sealed, never shown again; "
    "better given through $PORTSIDE_PORTAL_CLIENT_SECRET than on the command line).",
)


def _portal(client_id: str | None, secret: str | None) -> dict[str, Any]:
    """The body fields of the portal sign-in client (none if neither option was given)."""
    body: dict[str, Any] = {}
    if client_id is not None:
        body["portalClientId"] = client_id
    if secret is not None:
        body["portalClientSecret"] = secret
    return body


def _path(name: str) -> str:
    return f"/trusted-issuers/{quote(name, safe='')}"


def _keys(jwks_url: str | None, jwks_file: Path | None) -> dict[str, Any]:
    """The body fields that give the issuer's keys (none if neither option was given)."""
    if jwks_url is not None and jwks_file is not None:
        raise click.UsageError("give one of --jwks-url and --jwks-file")
    if jwks_url is not None:
        return {"jwksUrl": jwks_url}
    if jwks_file is None:
        return {}
    data = jwks_file.read_bytes()
    if len(data) > _MAX_JWKS_BYTES:
        raise CliError(f"{jwks_file} is larger than {_MAX_JWKS_BYTES} bytes")
    try:
        document = json.loads(data)
    except ValueError:
        raise CliError(f"{jwks_file} is not JSON") from None
    if not isinstance(document, dict):
        raise CliError(f'{jwks_file} is not a JWK set: {{"keys": [...]}}')
    return {"jwks": document}


@click.group()
def issuer() -> None:
    """Trusted OIDC issuers, whose tokens are exchanged for Portside sessions."""


@issuer.command("create")
@click.argument("name")
@click.option("--issuer", "iss", required=True, help="The `iss` its tokens carry.")
@click.option("--audience", required=True, help="The `aud` its tokens carry for Portside.")
@_jwks_url_option
@_jwks_file_option
@click.option("--groups-claim", default="groups", show_default=True, help="Claim of groups.")
@click.option("--tenant", help="Accept only its tokens of this tenant (`tid`).")
@_portal_client_option
@_portal_secret_option
@connection_options
@click.pass_context
def create_issuer(
    ctx: click.Context,
    name: str,
    iss: str,
    audience: str,
    jwks_url: str | None,
    jwks_file: Path | None,
    groups_claim: str,
    tenant: str | None,
    portal_client_id: str | None,
    portal_client_secret: str | None,
) -> None:
    """Trust an issuer under NAME (lowercase letters, digits, hyphens), on every node at once."""
    keys = _keys(jwks_url, jwks_file)
    if not keys:
        raise click.UsageError("give --jwks-url or --jwks-file")
    body: dict[str, Any] = {
        "name": name,
        "issuer": iss,
        "audience": audience,
        "groupsClaim": groups_claim,
        **keys,
        **_portal(portal_client_id, portal_client_secret),
    }
    if tenant is not None:
        body["tenant"] = tenant
    emit_record(ctx, management_client(ctx).call("POST", "/trusted-issuers", body), _FIELDS)


@issuer.command("list")
@connection_options
@click.pass_context
def list_issuers(ctx: click.Context) -> None:
    """List trusted issuers: the server's configuration file's, then those created here."""
    data = management_client(ctx).call("GET", "/trusted-issuers")
    emit(ctx, data, (*_FIELDS[:4], ("Tenant", "tenant")))


@issuer.command("show")
@click.argument("name")
@connection_options
@click.pass_context
def show_issuer(ctx: click.Context, name: str) -> None:
    """Show trusted issuer NAME."""
    emit_record(ctx, management_client(ctx).call("GET", _path(name)), _FIELDS)


@issuer.command("update")
@click.argument("name")
@click.option("--audience", help="The `aud` its tokens carry for Portside.")
@_jwks_url_option
@_jwks_file_option
@click.option("--groups-claim", help="Claim of groups.")
@click.option("--tenant", help="Accept only its tokens of this tenant (`tid`).")
@click.option("--no-tenant", is_flag=True, help="Accept its tokens of any tenant.")
@_portal_client_option
@_portal_secret_option
@click.option("--no-portal", is_flag=True, help="Stop offering it for portal sign-in.")
@connection_options
@click.pass_context
def update_issuer(
    ctx: click.Context,
    name: str,
    audience: str | None,
    jwks_url: str | None,
    jwks_file: Path | None,
    groups_claim: str | None,
    tenant: str | None,
    no_tenant: bool,
    portal_client_id: str | None,
    portal_client_secret: str | None,
    no_portal: bool,
) -> None:
    """Change trusted issuer NAME (created through the API); sessions opened before run on."""
    if tenant is not None and no_tenant:
        raise click.UsageError("give one of --tenant and --no-tenant")
    body: dict[str, Any] = _keys(jwks_url, jwks_file)
    if audience is not None:
        body["audience"] = audience
    if groups_claim is not None:
        body["groupsClaim"] = groups_claim
    if tenant is not None or no_tenant:
        body["tenant"] = tenant
    if no_portal and (portal_client_id is not None or portal_client_secret is not None):
        raise click.UsageError("give --no-portal alone, or the portal client options")
    body |= (
        {"portalClientId": None} if no_portal else _portal(portal_client_id, portal_client_secret)
    )
    emit_record(ctx, management_client(ctx).call("PATCH", _path(name), body), _FIELDS)


@issuer.command("delete")
@click.argument("name")
@yes_option
@connection_options
@click.pass_context
def delete_issuer(ctx: click.Context, name: str, yes: bool) -> None:
    """Stop trusting issuer NAME: its sessions end on every node."""
    confirm(yes, f"Stop trusting issuer {name}? Its sessions end.")
    management_client(ctx).call("DELETE", _path(name))
    click.echo(f"Deleted trusted issuer {name}.", err=True)
