"""`portside repository ...` and `portside manifest ...`: the data plane, as `az acr
repository` and `az acr manifest` (ACR's `/acr/v1` API and the OCI `/v2` API).

Each command signs in to the registry with the management credentials (see dataplane.py) and
asks for an access token with just the scope it needs.
"""

from __future__ import annotations

from typing import Any, Literal

import click

from portside.cli.remote.client import (
    CliError,
    connection_options,
    emit,
    emit_record,
    management_client,
    output_format,
)
from portside.cli.remote.dataplane import CATALOG, ImageRef, RegistrySession, parse_image
from portside.cli.remote.dataplane import repository_scope as scope
from portside.cli.remote.options import confirm, registry_name_option, registry_option, yes_option
from portside.cli.remote.recycle import (
    list_deleted_manifests,
    list_deleted_repositories,
    list_deleted_tags,
    restore_manifest,
)

__all__ = ["manifest", "repository"]

_TOP = click.option("--top", type=click.IntRange(1, 100_000), help="At most this many.")
_ORDERBY = click.option(
    "--orderby",
    type=click.Choice(["time_asc", "time_desc"]),
    help="Order by last update time (default: by name).",
)
_FLAGS = (
    ("delete_enabled", "deleteEnabled"),
    ("write_enabled", "writeEnabled"),
    ("read_enabled", "readEnabled"),
    ("list_enabled", "listEnabled"),
)
_ATTRIBUTES = (
    ("Delete enabled", "deleteEnabled"),
    ("Write enabled", "writeEnabled"),
    ("Read enabled", "readEnabled"),
    ("List enabled", "listEnabled"),
)


def _lock_options(command: Any) -> Any:
    """--delete-enabled/--write-enabled/--read-enabled/--list-enabled true|false."""
    for option, _ in reversed(_FLAGS):
        flag = "--" + option.replace("_", "-")
        command = click.option(flag, option, type=click.BOOL, help="true or false.")(command)
    return command


def _given(*values: bool | None) -> dict[str, bool]:
    """The attributes given (in _FLAGS order) as ACR's changeableAttributes body."""
    return {key: v for (_, key), v in zip(_FLAGS, values, strict=True) if v is not None}


def _changes(*values: bool | None) -> dict[str, bool]:
    """The attributes given, at least one of them."""
    changes = _given(*values)
    if not changes:
        raise CliError("nothing to update: give at least one --*-enabled true|false")
    return changes


def _order(orderby: str | None) -> dict[str, str] | None:
    """ACR's `orderby` query parameter (`timedesc`, `timeasc`) for az's `time_desc`, `time_asc`."""
    return {"orderby": orderby.replace("_", "")} if orderby else None


def _session(ctx: click.Context, registry_name: str) -> RegistrySession:
    return RegistrySession(management_client(ctx), registry_name)


def _listing(
    ctx: click.Context,
    registry_name: str,
    repository_name: str,
    kind: Literal["tags", "manifests"],
    top: int | None,
    orderby: str | None,
) -> list[Any]:
    """A repository's tags or manifests with their attributes, page after page (at most
    `top`), in az's `orderby` order."""
    session = _session(ctx, registry_name)
    path = f"/acr/v1/{repository_name}/_{kind}"
    read = scope(repository_name, "metadata_read")
    return session.pages(path, read, kind, top, _order(orderby))


def _target(repository_name: str | None, image: str | None) -> ImageRef:
    if (repository_name is None) == (image is None):
        raise CliError("give either --repository or --image")
    return ImageRef(repository_name) if repository_name else parse_image(str(image))


def _show_attributes(ctx: click.Context, data: dict[str, Any], fields: tuple[Any, ...]) -> None:
    flat = {**data, **(data.get("changeableAttributes") or {})}
    emit_record(ctx, data if _json(ctx) else flat, (*fields, *_ATTRIBUTES))


def _patch_attributes(
    ctx: click.Context,
    session: RegistrySession,
    repository: str,
    path: str,
    changes: dict[str, bool],
    name: tuple[str, str],
) -> None:
    """PATCH `changes` to the repository, tag or manifest at `path`, then show its attributes."""
    data = _patched(session, repository, path, changes)
    _show_attributes(ctx, data, (name,))


def _patched(
    session: RegistrySession, repository: str, path: str, changes: dict[str, bool]
) -> dict[str, Any]:
    """PATCH `changes` to the object at `path`; its attributes as the answer gives them (a tag
    or manifest answer wraps the object in `tag`/`manifest`)."""
    answer = session.request("PATCH", path, scope(repository, "metadata_write"), json=changes)
    data = answer.json() if answer.content else {}
    for key in ("tag", "manifest"):
        data = data.get(key, data) if isinstance(data, dict) else {}
    return data if isinstance(data, dict) else {}


def _json(ctx: click.Context) -> bool:
    return output_format(ctx) == "json"


_MANIFEST_FIELDS = (
    ("Digest", "digest"),
    ("Media type", "mediaType"),
    ("Size", "imageSize"),
    ("Tags", "tags"),
    ("Created", "createdTime"),
    ("Updated", "lastUpdateTime"),
)
_TAG_FIELDS = (
    ("Name", "name"),
    ("Digest", "digest"),
    ("Created", "createdTime"),
    ("Updated", "lastUpdateTime"),
)
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
@_TOP
@connection_options
@click.pass_context
def list_repositories(ctx: click.Context, registry_name: str, top: int | None) -> None:
    """List the repositories you may see."""
    names = _session(ctx, registry_name).pages("/acr/v1/_catalog", CATALOG, "repositories", top)
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
    session = _session(ctx, registry_name)
    read = scope(target.repository, "metadata_read")
    base = f"/acr/v1/{target.repository}"
    if target.tag:
        tag = session.json("GET", f"{base}/_tags/{target.tag}", read).get("tag", {})
        _show_attributes(ctx, tag, _TAG_FIELDS)
    elif target.digest:
        found = session.json("GET", f"{base}/_manifests/{target.digest}", read)
        _show_attributes(ctx, found.get("manifest", {}), _MANIFEST_FIELDS)
    else:
        _show_attributes(ctx, session.json("GET", base, read), _REPOSITORY_FIELDS)


@repository.command("show-tags")
@registry_name_option
@click.option("--repository", "repository_name", required=True, help="Repository name.")
@click.option("--detail", is_flag=True, help="Digests, times and attributes too.")
@_TOP
@_ORDERBY
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
    tags = _listing(ctx, registry_name, repository_name, "tags", top, orderby)
    if detail:
        emit(ctx, tags, _TAG_FIELDS)
    else:
        emit(ctx, [t.get("name") for t in tags], [("Tag", lambda name: name)])


@repository.command("update")
@registry_name_option
@click.option("--repository", "repository_name", help="Repository name.")
@click.option("--image", help="REPO:TAG or REPO@DIGEST.")
@_lock_options
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
    changes = _given(delete_enabled, write_enabled, read_enabled, list_enabled)
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
    session = _session(ctx, registry_name)
    base = f"/acr/v1/{target.repository}"
    if target.tag:
        path, name = f"{base}/_tags/{target.tag}", ("Name", "name")
    elif target.digest:
        path, name = f"{base}/_manifests/{target.digest}", ("Digest", "digest")
    else:
        path, name = base, ("Name", "imageName")
    data = _patched(session, target.repository, path, changes)
    if anonymous_pull_enabled is not None:
        data["anonymousPullEnabled"] = anonymous_pull_enabled
    _show_attributes(ctx, data, (name, *fields))


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
    session = _session(ctx, registry_name)
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
    session = _session(ctx, registry_name)
    path = f"/acr/v1/{target.repository}/_tags/{target.tag}"
    session.request("DELETE", path, scope(target.repository, "delete"))


@click.group()
def manifest() -> None:
    """Manifests of a repository: metadata, locks, deletion, referrers."""


@manifest.command("list-metadata")
@registry_option
@click.option("--name", "-n", "repository_name", required=True, help="Repository name.")
@_TOP
@_ORDERBY
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
    found = _listing(ctx, registry_name, repository_name, "manifests", top, orderby)
    emit(ctx, found, _MANIFEST_FIELDS)


@manifest.command("show-metadata")
@registry_option
@click.option("--name", "-n", "image", required=True, help="REPO:TAG or REPO@DIGEST.")
@connection_options
@click.pass_context
def show_metadata(ctx: click.Context, registry_name: str, image: str) -> None:
    """Show one manifest's metadata and attributes."""
    target = parse_image(image)
    session = _session(ctx, registry_name)
    digest = session.digest_of(target)
    path = f"/acr/v1/{target.repository}/_manifests/{digest}"
    found = session.json("GET", path, scope(target.repository, "metadata_read"))
    _show_attributes(ctx, found.get("manifest", {}), _MANIFEST_FIELDS)


@manifest.command("update-metadata")
@registry_option
@click.option("--name", "-n", "image", required=True, help="REPO:TAG or REPO@DIGEST.")
@_lock_options
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
    changes = _changes(delete_enabled, write_enabled, read_enabled, list_enabled)
    session = _session(ctx, registry_name)
    path = f"/acr/v1/{target.repository}/_manifests/{session.digest_of(target)}"
    _patch_attributes(ctx, session, target.repository, path, changes, ("Digest", "digest"))


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
    session = _session(ctx, registry_name)
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
    session = _session(ctx, registry_name)
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
repository.add_command(list_deleted_repositories)
manifest.add_command(list_deleted_manifests)
manifest.add_command(list_deleted_tags)
manifest.add_command(restore_manifest)
