"""The recycle bin from the command line, as `az acr repository list-deleted` and
`az acr manifest list-deleted | list-deleted-tags | restore`. The commands are added to the
`repository` and `manifest` groups (cli/remote/repository.py and
manifests.py) and call the management API.

The manifest commands take the registry and repository as the other manifest commands do
(`-r REGISTRY -n REPOSITORY`), or as `-n REGISTRY --repository REPOSITORY`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from portside.cli.remote.client import (
    CliError,
    Column,
    connection_options,
    emit,
    emit_record,
    management_client,
    output_format,
)
from portside.cli.remote.dataplane import parse_image
from portside.cli.remote.options import registry_name_option

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "list_deleted_manifests",
    "list_deleted_repositories",
    "list_deleted_tags",
    "restore_manifest",
]

_MANIFEST_COLUMNS: list[Column] = [
    ("Digest", "digest"),
    ("Tags", "tags"),
    ("Media type", "mediaType"),
    ("Deleted", "deletedAt"),
    ("Expires", "expiresAt"),
]
_TAG_COLUMNS: list[Column] = [
    ("Tag", "name"),
    ("Digest", "digest"),
    ("Deleted", "deletedAt"),
    ("Expires", "expiresAt"),
]


def _where_options(command: F) -> F:
    """-r/--registry, -n/--name and --repository (see the module docstring)."""
    for option in reversed(
        (
            click.option("--registry", "-r", "registry_name", help="Registry name."),
            click.option(
                "--name",
                "-n",
                "name",
                help="Repository name (with -r), or the registry's (with --repository).",
            ),
            click.option("--repository", "repository_name", help="Repository name."),
        )
    ):
        command = option(command)
    return command


def _where(registry: str | None, name: str | None, repository: str | None) -> tuple[str, str]:
    """(registry, repository) from `-r REG -n REPO` or `-n REG --repository REPO`."""
    if repository is not None:
        if (registry is None) == (name is None):
            raise CliError("with --repository, give the registry with -r or with -n (not both)")
        return str(registry or name), repository
    if registry is None or name is None:
        raise CliError("give -r REGISTRY -n REPOSITORY (or -n REGISTRY --repository REPOSITORY)")
    return registry, name


def _deleted(
    ctx: click.Context, kind: str, registry: str | None, name: str | None, repository: str | None
) -> Any:
    """A repository's `manifests` or `tags` (`kind`) in the recycle bin, as the server lists
    them."""
    registry_name, repository_name = _where(registry, name, repository)
    return management_client(ctx).call(
        "GET", f"/registries/{registry_name}/deleted-{kind}", params={"repository": repository_name}
    )


@click.command("list-deleted")
@registry_name_option
@click.option("--all", "include_live", is_flag=True, help="Also repositories that exist again.")
@connection_options
@click.pass_context
def list_deleted_repositories(ctx: click.Context, registry_name: str, include_live: bool) -> None:
    """List deleted repositories whose manifests are in the recycle bin."""
    params = {"all": "true"} if include_live else None
    found = management_client(ctx).call(
        "GET", f"/registries/{registry_name}/deleted-repositories", params=params
    )
    columns: list[Column] = [
        ("Repository", "name"),
        ("Deleted manifests", "deletedManifests"),
        ("Last deleted", "lastDeletedAt"),
        ("Expires", "expiresAt"),
    ]
    if include_live:
        columns.append(("Exists", "live"))
    emit(ctx, found, columns)


@click.command("list-deleted")
@_where_options
@connection_options
@click.pass_context
def list_deleted_manifests(
    ctx: click.Context, registry_name: str | None, name: str | None, repository_name: str | None
) -> None:
    """List a repository's manifests in the recycle bin, most recently deleted first."""
    found = _deleted(ctx, "manifests", registry_name, name, repository_name)
    emit(ctx, found, _MANIFEST_COLUMNS)


@click.command("list-deleted-tags")
@_where_options
@connection_options
@click.pass_context
def list_deleted_tags(
    ctx: click.Context, registry_name: str | None, name: str | None, repository_name: str | None
) -> None:
    """List a repository's tags deleted alone (restore their digest to get them back)."""
    found = _deleted(ctx, "tags", registry_name, name, repository_name)
    emit(ctx, found, _TAG_COLUMNS)


@click.command("restore")
@_where_options
@click.option("--digest", "-d", required=True, help="The manifest's digest.")
@click.option(
    "--tag",
    "-t",
    "tags",
    multiple=True,
    help="Tag to restore (repeatable; default: the tags it had and those deleted from it).",
)
@connection_options
@click.pass_context
def restore_manifest(
    ctx: click.Context,
    registry_name: str | None,
    name: str | None,
    repository_name: str | None,
    digest: str,
    tags: tuple[str, ...],
) -> None:
    """Restore a manifest from the recycle bin (creating its repository again if needed)."""
    registry, repository = _where(registry_name, name, repository_name)
    image = parse_image(repository)
    wanted = [*([image.tag] if image.tag else []), *tags]
    body = {"repository": image.repository, "digest": digest, "tags": wanted or None}
    result = management_client(ctx).call(
        "POST", f"/registries/{registry}/deleted-manifests/restore", body
    )
    emit_record(
        ctx,
        result,
        (
            ("Repository", "repository"),
            ("Digest", "digest"),
            ("Restored manifests", "restoredManifests"),
            ("Tags", "tags"),
        ),
    )
    if output_format(ctx) == "table":
        for conflict in result.get("conflicts", []):
            click.echo(
                f"Warning: tag {conflict['tag']} was not restored to {conflict['digest']}: "
                f"it names {conflict['takenBy']} now.",
                err=True,
            )
