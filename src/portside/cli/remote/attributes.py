"""What the `repository` and `manifest` commands share: ACR's lock flags as options and
bodies, paged listings of tags and manifests, and showing an object's attributes."""

from __future__ import annotations

from typing import Any, Literal

import click

from portside.cli.remote.client import CliError, emit_record, management_client, output_format
from portside.cli.remote.dataplane import RegistrySession
from portside.cli.remote.dataplane import repository_scope as scope

__all__ = [
    "MANIFEST_FIELDS",
    "ORDERBY",
    "TAG_FIELDS",
    "TOP",
    "given_locks",
    "listing",
    "lock_changes",
    "lock_options",
    "patch_attributes",
    "patched",
    "session_of",
    "show_attributes",
]

TOP = click.option("--top", type=click.IntRange(1, 100_000), help="At most this many.")
ORDERBY = click.option(
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


def lock_options(command: Any) -> Any:
    """--delete-enabled/--write-enabled/--read-enabled/--list-enabled true|false."""
    for option, _ in reversed(_FLAGS):
        flag = "--" + option.replace("_", "-")
        command = click.option(flag, option, type=click.BOOL, help="true or false.")(command)
    return command


def given_locks(*values: bool | None) -> dict[str, bool]:
    """The attributes given (in _FLAGS order) as ACR's changeableAttributes body."""
    return {key: v for (_, key), v in zip(_FLAGS, values, strict=True) if v is not None}


def lock_changes(*values: bool | None) -> dict[str, bool]:
    """The attributes given, at least one of them."""
    changes = given_locks(*values)
    if not changes:
        raise CliError("nothing to update: give at least one --*-enabled true|false")
    return changes


def _order(orderby: str | None) -> dict[str, str] | None:
    """ACR's `orderby` query parameter (`timedesc`, `timeasc`) for az's `time_desc`, `time_asc`."""
    return {"orderby": orderby.replace("_", "")} if orderby else None


def session_of(ctx: click.Context, registry_name: str) -> RegistrySession:
    """A session with the registry, signed in with the management credentials."""
    return RegistrySession(management_client(ctx), registry_name)


def listing(
    ctx: click.Context,
    registry_name: str,
    repository_name: str,
    kind: Literal["tags", "manifests"],
    top: int | None,
    orderby: str | None,
) -> list[Any]:
    """A repository's tags or manifests with their attributes, page after page (at most
    `top`), in az's `orderby` order."""
    session = session_of(ctx, registry_name)
    path = f"/acr/v1/{repository_name}/_{kind}"
    read = scope(repository_name, "metadata_read")
    return session.pages(path, read, kind, top, _order(orderby))


def show_attributes(ctx: click.Context, data: dict[str, Any], fields: tuple[Any, ...]) -> None:
    """Show `fields` of an object and its lock flags (JSON as the API answered it)."""
    flat = {**data, **(data.get("changeableAttributes") or {})}
    emit_record(ctx, data if _json(ctx) else flat, (*fields, *_ATTRIBUTES))


def patch_attributes(
    ctx: click.Context,
    session: RegistrySession,
    repository: str,
    path: str,
    changes: dict[str, bool],
    name: tuple[str, str],
) -> None:
    """PATCH `changes` to the repository, tag or manifest at `path`, then show its attributes."""
    data = patched(session, repository, path, changes)
    show_attributes(ctx, data, (name,))


def patched(
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


MANIFEST_FIELDS = (
    ("Digest", "digest"),
    ("Media type", "mediaType"),
    ("Size", "imageSize"),
    ("Tags", "tags"),
    ("Created", "createdTime"),
    ("Updated", "lastUpdateTime"),
)
TAG_FIELDS = (
    ("Name", "name"),
    ("Digest", "digest"),
    ("Created", "createdTime"),
    ("Updated", "lastUpdateTime"),
)
