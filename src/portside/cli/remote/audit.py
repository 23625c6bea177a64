"""`portside audit list`: a registry's audit log (changes, logins, refused logins).

Newest first; `--top` records at most, fetched a page at a time. Filters are the server's:
`--since` (a duration such as 30m, 12h, 7d, or an ISO 8601 time), `--identity` (an id,
kind:id, or kind: for all of a kind), `--action` (manifest.push, or a family such as
manifest). Records: docs/events.md.
"""

from __future__ import annotations

from typing import Any

import click

from portside.cli.remote.client import Column, connection_options, emit, management_client
from portside.cli.remote.options import registry_option

__all__ = ["audit"]

_PAGE = 1000
_COLUMNS: list[Column] = [
    ("Time", "time"),
    ("Identity", lambda r: f"{r.get('identityKind')}:{r.get('identity')}".rstrip(":")),
    ("Client", "client"),
    ("Action", "action"),
    ("Target", "target"),
    ("Outcome", lambda r: f"{r.get('outcome')} ({r.get('status')})"),
]


@click.group()
def audit() -> None:
    """The audit log: who changed what, who logged in, who was refused."""


@audit.command("list")
@registry_option
@click.option("--since", help="From this long ago (30m, 12h, 7d) or this ISO 8601 time.")
@click.option("--identity", help="Only this identity (its id, or kind:id), or kind: (all of it).")
@click.option("--action", help="Only this action (manifest.push) or family (manifest).")
@click.option(
    "--top", type=click.IntRange(1, 100_000), default=100, show_default=True, help="At most."
)
@connection_options
@click.pass_context
def list_audit(
    ctx: click.Context,
    registry_name: str,
    since: str | None,
    identity: str | None,
    action: str | None,
    top: int,
) -> None:
    """List registry records, newest first."""
    client = management_client(ctx)
    params = {"since": since, "identity": identity, "action": action}
    query = {key: value for key, value in params.items() if value}
    records: list[Any] = []
    last: int | None = None
    while len(records) < top:
        page_query = {**query, "n": str(min(_PAGE, top - len(records)))}
        if last is not None:
            page_query["last"] = str(last)
        page = client.call("GET", f"/registries/{registry_name}/audit", params=page_query)
        records += page["value"]
        if not page.get("nextLink") or not page["value"]:
            break
        last = int(page["value"][-1]["id"])
    emit(ctx, records, _COLUMNS)
