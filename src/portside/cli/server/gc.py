"""`portside gc [--dry-run]`: collect unused blob links, blobs and bytes now.

Like `portside admin reset-password`, it talks to the database and the storage directly (run
it where `portside serve` runs, with the same configuration), not to the server; servers may
go on serving pushes and pulls meanwhile (docs/gc.md). It shows a progress bar per phase on
stderr, then a summary of what was freed (or, with --dry-run, would be).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import anyio
import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn
from rich.table import Table

from portside.config import Settings, load_settings

if TYPE_CHECKING:
    from portside.services.lifecycle.gc import GcReport

__all__ = ["gc"]

_PHASES = {
    "forecast": "Counting what would be freed",
    "links": "Removing unused blob links",
    "mark": "Marking unreferenced blobs",
    "blobs": "Deleting blobs and their bytes",
}


@click.command("gc")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML settings file (as given to `portside serve`).",
)
@click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Data directory."
)
@click.option("--dry-run", is_flag=True, help="Only report what a collection would free.")
@click.option(
    "--grace-minutes",
    # Open at 0, as the gc_grace_minutes setting: a zero grace would collect in-flight pushes.
    type=click.FloatRange(min=0, min_open=True),
    help="Keep links and blobs created or used this recently; > 0 [default: gc_grace_minutes].",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Summary format.",
)
def gc(
    config_file: Path | None,
    data_dir: Path | None,
    dry_run: bool,
    grace_minutes: float | None,
    output: str,
) -> None:
    """Remove blob links, blobs and bytes that nothing references any more."""
    settings = load_settings(config_file, data_dir=data_dir)
    if settings.storage_driver == "memory":
        raise click.ClickException(
            "the memory storage driver keeps its bytes inside the server process: the server's "
            "own collector (gc_interval_seconds) is the one that can free them"
        )
    grace = timedelta(minutes=settings.gc_grace_minutes if grace_minutes is None else grace_minutes)
    # Imported here: every other `portside` command starts without SQLAlchemy.
    from portside.runtime import migrate
    from portside.services.lifecycle.gc import CollectorBusy

    migrate(settings)
    with _Bars(Console(stderr=True)) as bars:
        try:
            report = anyio.run(_collect, settings, grace, dry_run, bars)
        except CollectorBusy as exc:
            raise click.ClickException(f"{exc}; try again when it has finished") from None
    if output == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    Console().print(summary(report))


async def _collect(settings: Settings, grace: timedelta, dry_run: bool, bars: _Bars) -> GcReport:
    """One collection over the configured database and storage."""
    from portside.runtime import Runtime

    async with Runtime(settings) as runtime:
        collector = runtime.garbage_collector(grace=grace)
        return await collector.collect(dry_run=dry_run, progress=bars)


def summary(report: GcReport) -> Table:
    """The report as a two-column table."""
    would = "would be " if report.dry_run else ""
    table = Table(title="Dry run: nothing was changed" if report.dry_run else None)
    table.add_column("")
    table.add_column("", justify="right")
    table.show_header = False
    table.add_row(f"Blob links {would}removed", f"{report.links_removed:,}")
    table.add_row(f"Blobs {would}removed", f"{report.blobs_removed:,}")
    table.add_row(f"Bytes {would}freed", f"{report.bytes_freed:,} ({_human(report.bytes_freed)})")
    table.add_row("Duration", f"{report.seconds:.1f} s")
    return table


def _human(size: int) -> str:
    """1536 → "1.5 KiB"."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class _Bars:
    """A progress bar per phase of the collection (GcProgress), drawn on stderr."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> _Bars:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._finish()
        self._progress.stop()

    def begin(self, phase: str, total: int) -> None:
        """Start the bar of a new phase (completing the previous one)."""
        self._finish()
        self._task = self._progress.add_task(_PHASES.get(phase, phase), total=total)

    def advance(self, count: int) -> None:
        """Move the current bar on."""
        if self._task is not None:
            self._progress.advance(self._task, count)

    def _finish(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[-1]
            # Counts listed before the run may differ from what the run met (pushes go on).
            self._progress.update(self._task, total=task.completed)
            self._task = None
