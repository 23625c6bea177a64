"""`portside purge`: ACR's `acr purge` against a Portside registry (through the management
API's `POST /registries/{name}/purge`).

    portside purge -r team1 --filter 'hello-world:.*' --ago 2d3h --keep 3 --untagged --dry-run

A spinner runs on stderr while the server works (on a terminal), then a table lists what was
deleted (or would be, with --dry-run) and what locks kept, with a summary line on stderr.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click
from rich.console import Console

from portside.cli.remote.client import Column, connection_options, emit, management_client
from portside.cli.remote.options import registry_option

__all__ = ["purge"]

_COLUMNS: list[Column] = [
    ("Repository", "repository"),
    ("Kind", "kind"),
    ("Tags", "tags"),
    ("Digest", "digest"),
    ("Status", "status"),
    ("Reason", lambda i: i.get("lock") or i.get("reason")),
]


@contextlib.contextmanager
def _progress(message: str) -> Iterator[None]:
    """A spinner on stderr while the block runs (a plain line when stderr is no terminal)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        click.echo(message, err=True)
        yield
        return
    with console.status(message):
        yield


def _summary(items: list[dict[str, Any]], dry_run: bool) -> str:
    done = [i for i in items if i.get("status") != "skipped"]
    tags = sum(len(i.get("tags") or []) for i in done if i.get("kind") == "tag")
    manifests = sum(1 for i in done if i.get("kind") == "manifest")
    skipped = len(items) - len(done)
    verb = "Would delete" if dry_run else "Deleted"
    return f"{verb} {tags} tag(s) and {manifests} manifest(s); skipped {skipped} locked item(s)."


@click.command()
@registry_option
@click.option(
    "--filter",
    "filters",
    multiple=True,
    required=True,
    help="REPO-REGEX:TAG-REGEX (repeatable); the repository expression matches whole names, "
    "the tag expression anywhere in the tag (anchor it with ^...$).",
)
@click.option(
    "--ago",
    required=True,
    help="Only tags last updated longer ago than this: 2d3h15m (d, h, m, s); 0 for all.",
)
@click.option(
    "--keep",
    type=click.IntRange(0, 10_000),
    default=0,
    show_default=True,
    help="Keep the newest N of the tags that would go in each repository (all filters together).",
)
@click.option("--untagged", is_flag=True, help="Also delete untagged manifests.")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@connection_options
@click.pass_context
def purge(
    ctx: click.Context,
    registry_name: str,
    filters: tuple[str, ...],
    ago: str,
    keep: int,
    untagged: bool,
    dry_run: bool,
) -> None:
    """Delete tags (and untagged manifests) by filter and age, as acr purge; locked ones stay."""
    client = management_client(ctx)
    body = {
        "filters": list(filters),
        "ago": ago,
        "keep": keep,
        "untagged": untagged,
        "dryRun": dry_run,
    }
    what = "Looking for what to purge" if dry_run else "Purging"
    with _progress(f"{what} in {registry_name}..."):
        items = client.call("POST", f"/registries/{registry_name}/purge", body)
    emit(ctx, items, _COLUMNS)
    click.echo(_summary(items, dry_run), err=True)
