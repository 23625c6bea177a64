"""`portside repository ...`: repositories, their tags and locks, as `az acr repository`
(ACR's `/acr/v1` API and the OCI `/v2` API; `manifest ...` is in manifests.py).

Each command signs in to the registry with the management credentials (see dataplane.py) and
asks for an access token with just the scope it needs.
"""

from __future__ import annotations

from typing import Any

import click

from portside.cli.remote.attributes import (
    MANIFEST_FIELDS,
    ORDERBY,
    TAG_FIELDS,
    TOP,
    given_locks,
    listing,
    lock_options,
    patched,
    session_of,
    show_attributes,
)
from portside.cli.remote.client import (
    CliError,
    connection_options,
    emit,
    emit_record,
    management_client,
)
from portside.cli.remote.dataplane import CATALOG, ImageRef, parse_image
from portside.cli.remote.dataplane import repository_scope as scope
from portside.cli.remote.options import confirm, registry_name_option, yes_option
from portside.cli.remote.recycle import (
    list_deleted_repositories,
)

__all__ = ["repository"]


def _target(repository_name: str | None, image: str | None) -> ImageRef:
    if (repository_name is None) == (image is None):
        raise CliError("give either --repository or --image")
    return ImageRef(repository_name) if repository_name else parse_image(str(image))


_REPOSITORY_FIELDS = (
    ("Registry", "registry"),
    ("Name", "imageName"),
    ("Manifests", "manifestCount"),
    ("Tags", "tagCount"),
    ("Created", "createdTime"),
    ("Updated", "lastUpdateTime"),
)


@click.group()
def repository() -> None:
    """Repositories of a registry: list, show, show tags, lock, delete, untag."""


@repository.command("list")
@registry_name_option
@TOP
@connection_options
@click.pass_context
def list_repositories(ctx: click.Context, registry_name: str, top: int | None) -> None:
    """List the repositories you may see."""
    names = session_of(ctx, registry_name).pages("/acr/v1/_catalog", CATALOG, "repositories", top)
    emit(ctx, names, [("Repository", lambda name: name)])


@repository.command("show")
@registry_name_option
@click.option("--repository", "repository_name", help="Repository name.")
@click.option("--image", help="REPO:TAG or REPO@DIGEST.")
@connection_options
@click.pass_context
def show_repository(
    ctx: click.Context, registry_name: str, repository_name: str | None, image: str | None
) -> None:
    """Show a repository's (or an image's) attributes."""
    target = _target(repository_name, image)
    session = session_of(ctx, registry_name)
    read = scope(target.repository, "metadata_read")
    base = f"/acr/v1/{target.repository}"
    if target.tag:
        tag = session.json("GET", f"{base}/_tags/{target.tag}", read).get("tag", {})
        show_attributes(ctx, tag, TAG_FIELDS)
    elif target.digest:
        found = session.json("GET", f"{base}/_manifests/{target.digest}", read)
        show_attributes(ctx, found.get("manifest", {}), MANIFEST_FIELDS)
    else:
        show_attributes(ctx, session.json("GET", base, read), _REPOSITORY_FIELDS)


@repository.command("show-tags")
@registry_name_option
@click.option("--repository", "repository_name", required=True, help="Repository name.")
@click.option("--detail", is_flag=True, help="Digests, times and attributes too.")
@TOP
@ORDERBY
@connection_options
@click.pass_context
def show_tags(
    ctx: click.Context,
    registry_name: str,
    repository_name: str,
    detail: bool,
    top: int | None,
    orderby: str | None,
) -> None:
    """List a repository's tags."""
    tags = listing(ctx, registry_name, repository_name, "tags", top, orderby)
    if detail:
        emit(ctx, tags, TAG_FIELDS)
    else:
        emit(ctx, [t.get("name") for t in tags], [("Tag", lambda name: name)])


@repository.command("update")
@registry_name_option
@click.option("--repository", "repository_name", help="Repository name.")
@click.option("--image", help="REPO:TAG or REPO@DIGEST.")
@lock_options
@click.option(
    "--anonymous-pull-enabled",
    type=click.BOOL,
    help="true or false: anyone may pull this repository (with --repository).",
)
@connection_options
@click.pass_context
def update_repository(
    ctx: click.Context,
    registry_name: str,
    repository_name: str | None,
    image: str | None,
    delete_enabled: bool | None,
    write_enabled: bool | None,
    read_enabled: bool | None,
    list_enabled: bool | None,
    anonymous_pull_enabled: bool | None,
) -> None:
    """Lock or unlock a repository, tag or manifest (delete, write, read, list); open or close
    a repository to anonymous pull."""
    target = _target(repository_name, image)
    changes = given_locks(delete_enabled, write_enabled, read_enabled, list_enabled)
    if anonymous_pull_enabled is None and not changes:
        raise CliError("nothing to update: give at least one --*-enabled true|false")
    fields: tuple[tuple[str, str], ...] = ()
    if anonymous_pull_enabled is not None:
        if target.tag or target.digest:
            raise CliError("--anonymous-pull-enabled applies to a repository: give --repository")
        answer = _set_anonymous_pull(ctx, registry_name, target.repository, anonymous_pull_enabled)
        if not changes:
            emit_record(ctx, answer, (("Registry", "registry"), ("Name", "name"), _ANONYMOUS))
            return
        fields = (_ANONYMOUS,)
    session = session_of(ctx, registry_name)
    base = f"/acr/v1/{target.repository}"
    if target.tag:
        path, name = f"{base}/_tags/{target.tag}", ("Name", "name")
    elif target.digest:
        path, name = f"{base}/_manifests/{target.digest}", ("Digest", "digest")
    else:
        path, name = base, ("Name", "imageName")
    data = patched(session, target.repository, path, changes)
    if anonymous_pull_enabled is not None:
        data["anonymousPullEnabled"] = anonymous_pull_enabled
    show_attributes(ctx, data, (name, *fields))


_ANONYMOUS = ("Anonymous pull enabled", "anonymousPullEnabled")


def _set_anonymous_pull(
    ctx: click.Context, registry_name: str, repository_name: str, enabled: bool
) -> Any:
    """Open or close one repository to anonymous pull: a management API setting (ACR's data
    plane has no such attribute); the answer's `{"registry", "name", "anonymousPullEnabled"}`."""
    path = f"/registries/{registry_name}/repositories/{repository_name}"
    return management_client(ctx).call("PATCH", path, {"anonymousPullEnabled": enabled})


@repository.command("delete")
@registry_name_option
@click.option("--repository", "repository_name", help="Delete the whole repository.")
@click.option("--image", help="REPO:TAG or REPO@DIGEST: delete that manifest and its tags.")
@yes_option
@connection_options
@click.pass_context
def delete_repository(
    ctx: click.Context,
    registry_name: str,
    repository_name: str | None,
    image: str | None,
    yes: bool,
) -> None:
    """Delete a repository, or an image (its manifest and every tag on it)."""
    target = _target(repository_name, image)
    what = repository_name or image
    confirm(yes, f"Delete {what} from {registry_name}?")
    session = session_of(ctx, registry_name)
    delete = scope(target.repository, "delete")
    if target.tag or target.digest:
        digest = session.digest_of(target)
        session.request("DELETE", f"/v2/{target.repository}/manifests/{digest}", delete)
    else:
        session.request("DELETE", f"/acr/v1/{target.repository}", delete)


@repository.command("untag")
@registry_name_option
@click.option("--image", required=True, help="REPO:TAG to remove (the manifest stays).")
@connection_options
@click.pass_context
def untag(ctx: click.Context, registry_name: str, image: str) -> None:
    """Remove a tag; the manifest it pointed at stays."""
    target = parse_image(image)
    if not target.tag:
        raise CliError("give --image as REPO:TAG")
    session = session_of(ctx, registry_name)
    path = f"/acr/v1/{target.repository}/_tags/{target.tag}"
    session.request("DELETE", path, scope(target.repository, "delete"))


# The recycle bin (cli/remote/recycle.py).
repository.add_command(list_deleted_repositories)
