"""`portside manifest ...`: manifests of a repository, as `az acr manifest` (ACR's `/acr/v1`
API and the OCI `/v2` API).

Each command signs in to the registry with the management credentials (see dataplane.py) and
asks for an access token with just the scope it needs.
"""

from __future__ import annotations

import click

from portside.cli.remote.attributes import (
    MANIFEST_FIELDS,
    ORDERBY,
    TOP,
    listing,
    lock_changes,
    lock_options,
    patch_attributes,
    session_of,
    show_attributes,
)
from portside.cli.remote.client import connection_options, emit
from portside.cli.remote.dataplane import parse_image
from portside.cli.remote.dataplane import repository_scope as scope
from portside.cli.remote.options import confirm, registry_option, yes_option
from portside.cli.remote.recycle import list_deleted_manifests, list_deleted_tags, restore_manifest

__all__ = ["manifest"]


@click.group()
def manifest() -> None:
    """Manifests of a repository: metadata, locks, deletion, referrers."""


@manifest.command("list-metadata")
@registry_option
@click.option("--name", "-n", "repository_name", required=True, help="Repository name.")
@TOP
@ORDERBY
@connection_options
@click.pass_context
def list_metadata(
    ctx: click.Context,
    registry_name: str,
    repository_name: str,
    top: int | None,
    orderby: str | None,
) -> None:
    """List a repository's manifests with their tags and attributes."""
    found = listing(ctx, registry_name, repository_name, "manifests", top, orderby)
    emit(ctx, found, MANIFEST_FIELDS)


@manifest.command("show-metadata")
@registry_option
@click.option("--name", "-n", "image", required=True, help="REPO:TAG or REPO@DIGEST.")
@connection_options
@click.pass_context
def show_metadata(ctx: click.Context, registry_name: str, image: str) -> None:
    """Show one manifest's metadata and attributes."""
    target = parse_image(image)
    session = session_of(ctx, registry_name)
    digest = session.digest_of(target)
    path = f"/acr/v1/{target.repository}/_manifests/{digest}"
    found = session.json("GET", path, scope(target.repository, "metadata_read"))
    show_attributes(ctx, found.get("manifest", {}), MANIFEST_FIELDS)


@manifest.command("update-metadata")
@registry_option
@click.option("--name", "-n", "image", required=True, help="REPO:TAG or REPO@DIGEST.")
@lock_options
@connection_options
@click.pass_context
def update_metadata(
    ctx: click.Context,
    registry_name: str,
    image: str,
    delete_enabled: bool | None,
    write_enabled: bool | None,
    read_enabled: bool | None,
    list_enabled: bool | None,
) -> None:
    """Lock or unlock one manifest (delete, write, read, list)."""
    target = parse_image(image)
    changes = lock_changes(delete_enabled, write_enabled, read_enabled, list_enabled)
    session = session_of(ctx, registry_name)
    path = f"/acr/v1/{target.repository}/_manifests/{session.digest_of(target)}"
    patch_attributes(ctx, session, target.repository, path, changes, ("Digest", "digest"))


@manifest.command("delete")
@registry_option
@click.option("--name", "-n", "image", required=True, help="REPO:TAG or REPO@DIGEST.")
@yes_option
@connection_options
@click.pass_context
def delete_manifest(ctx: click.Context, registry_name: str, image: str, yes: bool) -> None:
    """Delete a manifest and every tag on it."""
    target = parse_image(image)
    confirm(yes, f"Delete {image} and its tags from {registry_name}?")
    session = session_of(ctx, registry_name)
    digest = session.digest_of(target)
    path = f"/v2/{target.repository}/manifests/{digest}"
    session.request("DELETE", path, scope(target.repository, "delete"))


@manifest.command("list-referrers")
@registry_option
@click.option("--name", "-n", "image", required=True, help="REPO:TAG or REPO@DIGEST.")
@click.option("--artifact-type", help="Only referrers of this artifact type.")
@connection_options
@click.pass_context
def list_referrers(
    ctx: click.Context, registry_name: str, image: str, artifact_type: str | None
) -> None:
    """List the manifests that refer to an image (signatures, SBOMs, ...)."""
    target = parse_image(image)
    session = session_of(ctx, registry_name)
    digest = session.digest_of(target)
    params = {"artifactType": artifact_type} if artifact_type else None
    path = f"/v2/{target.repository}/referrers/{digest}"
    index = session.json("GET", path, scope(target.repository, "pull"), params=params)
    columns = [
        ("Digest", "digest"),
        ("Artifact type", "artifactType"),
        ("Media type", "mediaType"),
        ("Size", "size"),
    ]
    emit(ctx, index.get("manifests", []), columns)


# The recycle bin (cli/remote/recycle.py).
manifest.add_command(list_deleted_manifests)
manifest.add_command(list_deleted_tags)
manifest.add_command(restore_manifest)
