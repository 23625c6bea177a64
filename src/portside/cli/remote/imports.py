"""`portside import`, modelled on `az acr import`: the server copies an image from an upstream
registry, or from another registry of this deployment, into a registry; the client uploads
nothing. It follows the job with a progress bar unless `--no-wait`; `import-show` and
`import-list` read jobs later.

As in `az acr import`, `-n/--name` (or `-r`) is the registry imported into and `--registry`
the registry of this deployment imported from. `--username`/`--password` are the upstream's
(a service principal calling the API gives `--sp-username`/`--sp-password`).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from portside.cli.remote.client import (
    CliError,
    ManagementClient,
    connection_options,
    emit,
    emit_record,
    management_client,
    output_format,
)
from portside.cli.remote.upstream_options import service_principal_flags_renamed

__all__ = ["import_image", "import_list", "import_show"]

_POLL = 0.5
_FIELDS = (
    ("Id", "id"),
    ("Status", "status"),
    ("Bytes", "bytesDone"),
    ("Digest", "digest"),
    ("Images", "images"),
    ("Error", "failure"),
)
_COLUMNS: list[tuple[str, Any]] = [
    ("Id", "id"),
    ("Status", "status"),
    ("Source", lambda j: j["request"].get("source")),
    ("Bytes", "bytesDone"),
    ("Created", "creationDate"),
]
_target_registry = click.option(
    "--name", "-n", "-r", "registry_name", required=True, help="Registry to import into."
)


def _path(registry: str, job: str | None = None) -> str:
    base = f"/registries/{registry}/imports"
    return base if job is None else f"{base}/{job}"


def _flat(job: dict[str, Any]) -> dict[str, Any]:
    """The job with its result and error flattened for a table."""
    result = job.get("result") or {}
    error = job.get("error") or {}
    return {
        **job,
        "digest": result.get("digest"),
        "images": ", ".join(result.get("targets", [])),
        "failure": f"{error.get('code')}: {error.get('message')}" if error else None,
    }


@service_principal_flags_renamed
@click.command("import")
@_target_registry
@click.option("--source", required=True, help="HOST/REPO:TAG or HOST/REPO@DIGEST (REPO:TAG "
              "with --registry).")  # fmt: skip
@click.option("--image", "-t", "images", multiple=True, help="Target REPO[:TAG] (repeatable); "
              "default: the source's.")  # fmt: skip
@click.option("--registry", "source_registry", help="Import from this registry of the deployment.")
@click.option("--username", "-u", "username", help="User name at the upstream.")
@click.option("--password", "-p", "password", help="Password or token at the upstream.")
@click.option("--credential-set", help="Log in to the upstream with this credential set.")
@click.option("--force", is_flag=True, help="Overwrite target tags that exist.")
@click.option("--no-wait", is_flag=True, help="Answer the job's id at once.")
@click.option("--platform", help="os/arch[/variant]: only this platform of an index.")
@click.option("--with-referrers", is_flag=True, help="Also import signatures, SBOMs...")
@connection_options
@click.pass_context
def import_image(
    ctx: click.Context,
    registry_name: str,
    source: str,
    images: tuple[str, ...],
    source_registry: str | None,
    upstream_username: str | None,
    upstream_password: str | None,
    credential_set: str | None,
    force: bool,
    no_wait: bool,
    platform: str | None,
    with_referrers: bool,
) -> None:
    """Import an image into a registry, server-side."""
    body: dict[str, Any] = {
        "source": source,
        "targetTags": list(images),
        "sourceRegistry": source_registry,
        "username": upstream_username,
        "password": upstream_password,
        "credentialSet": credential_set,
        "mode": "Force" if force else "NoForce",
        "platform": platform,
        "withReferrers": with_referrers,
    }
    client = management_client(ctx)
    job = client.call("POST", _path(registry_name), {k: v for k, v in body.items() if v})
    if not no_wait:
        job = _follow(client, registry_name, job, quiet=output_format(ctx) == "json")
    emit_record(ctx, job if output_format(ctx) == "json" else _flat(job), _FIELDS)
    if job["status"] == "failed":
        error = job.get("error") or {}
        raise CliError(f"import failed: {error.get('code')}: {error.get('message')}")


def _follow(
    client: ManagementClient, registry: str, job: dict[str, Any], *, quiet: bool
) -> dict[str, Any]:
    """Poll the job until it ends, drawing its progress on stderr."""
    # A bar only for a person watching: in a pipe or a log it would be noise.
    console = Console(stderr=True, quiet=quiet or not sys.stderr.isatty())
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"importing {job['request']['source'][:60]}", total=None)
        while job["status"] in ("queued", "running"):
            time.sleep(_POLL)
            job = client.call("GET", _path(registry, job["id"]))
            total = job["bytesTotal"] or None
            progress.update(task, completed=job["bytesDone"], total=total)
    return job


@click.command("import-show")
@_target_registry
@click.argument("job")
@connection_options
@click.pass_context
def import_show(ctx: click.Context, registry_name: str, job: str) -> None:
    """Show import JOB: its status, progress, result or error."""
    data = management_client(ctx).call("GET", _path(registry_name, job))
    emit_record(ctx, data if output_format(ctx) == "json" else _flat(data), _FIELDS)


@click.command("import-list")
@_target_registry
@connection_options
@click.pass_context
def import_list(ctx: click.Context, registry_name: str) -> None:
    """List the registry's recent imports, newest first."""
    emit(ctx, management_client(ctx).call("GET", _path(registry_name)), _COLUMNS)
