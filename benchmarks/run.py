"""`python -m benchmarks.run`: Portside and the reference registry, same workloads, one run.

Both servers run at once on this machine, with their data under one directory (the same
storage medium). Each workload is warmed up, then repeated for several rounds, alternating
which server goes first; the table shows medians. Timed traffic comes from curl and wrk,
never from this Python process. Ratios read "how many times better Portside is": throughput
divided by the reference's, or the reference's memory and start time divided by Portside's.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import shutil
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import workloads as w
from benchmarks.bearer import ADMIN_PASSWORD, BearerAccess
from benchmarks.populate import make_blob_file, populate_repositories, push_image, push_tags
from benchmarks.servers import Server, start_portside, start_reference

console = Console()


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    name: str
    unit: str
    portside: float
    reference: float
    higher_is_better: bool
    target: str

    @property
    def ratio(self) -> float:
        """Portside's advantage (> 1 means Portside is better)."""
        if self.higher_is_better:
            return self.portside / self.reference if self.reference else float("inf")
        return self.reference / self.portside if self.portside else float("inf")


def prepare(root: Path, scale: w.Scale) -> w.Prepared:
    """Random input files, made once and pushed to both servers."""
    blob = root / "blob.bin"
    digest = make_blob_file(blob, scale.blob_bytes)
    chunked = root / "chunked.bin"
    chunked_digest = make_blob_file(chunked, scale.chunked_bytes)
    chunks = []
    with open(chunked, "rb") as handle:
        for index in range(0, scale.chunked_bytes, scale.chunk_bytes):
            part = root / f"chunk{index // scale.chunk_bytes:03d}.bin"
            part.write_bytes(handle.read(scale.chunk_bytes))
            chunks.append(part)
    return w.Prepared(blob, digest, chunks, chunked_digest)


def seed(server: Server, prep: w.Prepared, scale: w.Scale) -> None:
    """Untimed data every workload reads."""
    prep.images[server.name] = push_image(
        server.url, "bench/image", "v1", [scale.layer_bytes] * scale.layers
    )
    push_tags(server.url, "bench/tags", scale.tags)
    repos = sorted([*populate_repositories(server.url, scale.repositories), "bench/image"])
    pages = ["/v2/_catalog?n=100"]
    pages += [f"/v2/_catalog?n=100&last={repos[i - 1]}" for i in range(100, len(repos), 100)]
    prep.catalog_pages[server.name] = pages


def measure(servers: list[Server], rounds: int, fn: Callable[[Server], float]) -> dict[str, float]:
    """Median of `rounds` runs per server, alternating which goes first."""
    results: dict[str, list[float]] = {s.name: [] for s in servers}
    for index in range(rounds):
        order = servers if index % 2 == 0 else list(reversed(servers))
        for server in order:
            results[server.name].append(fn(server))
    return {name: statistics.median(values) for name, values in results.items()}


def run(scale: w.Scale, workers: int | None, root: Path) -> list[Row]:
    """Start both servers, run every workload, stop them; the rows of the table. `workers`
    None runs Portside with `portside serve`'s default."""
    portside = start_portside(root / "portside", workers, ADMIN_PASSWORD)
    reference = start_reference(root / "reference")
    servers = [portside, reference]
    rows: list[Row] = []
    try:
        for server in servers:
            server.start()
        console.log("preparing inputs")
        prep = prepare(root, scale)
        for server in servers:
            console.log(f"seeding {server.name}")
            seed(server, prep, scale)
        prep.auth[portside.name] = BearerAccess(portside).headers
        rows.extend(_transfer_rows(servers, prep, scale))
        rows.extend(_request_rows(servers, prep, scale))
        rows.append(_startup_row(servers, scale))
    finally:
        with contextlib.ExitStack() as stopping:  # every server is stopped, even if one fails to
            for server in servers:
                stopping.callback(server.stop)
    return rows


def _transfer_rows(servers: list[Server], prep: w.Prepared, scale: w.Scale) -> list[Row]:
    peaks = {s.name: w.PeakMemory(s) for s in servers}
    mib = scale.blob_bytes >> 20

    def sampled(fn: Callable[[Server, w.Prepared], float]) -> Callable[[Server], float]:
        def inner(server: Server) -> float:
            with peaks[server.name].sampling():
                return fn(server, prep)

        return inner

    console.log(f"push of a {mib} MiB blob")
    push = measure(servers, scale.rounds, sampled(w.push_blob))
    console.log("chunked push")
    chunked = measure(servers, scale.rounds, lambda s: w.push_chunked(s, prep))
    console.log(f"pull of a {mib} MiB blob")
    for server in servers:
        w.pull_blob(server, prep)  # warm-up
    pull = measure(servers, scale.rounds, sampled(w.pull_blob))
    chunk_mib = scale.chunk_bytes >> 20
    return [
        Row(f"push {mib} MiB blob (monolithic)", "MB/s", *_pair(push), True, ">= 2x"),
        Row(
            f"chunked push {scale.chunked_bytes >> 20} MiB in {chunk_mib} MiB chunks",
            "MB/s",
            *_pair(chunked),
            True,
            ">= 2x",
        ),
        Row(f"pull {mib} MiB blob", "MB/s", *_pair(pull), True, ">= 1x"),
        Row(
            f"peak RSS of one process moving {mib} MiB",
            "MiB",
            peaks["portside"].peak_mib(),
            peaks["reference"].peak_mib(),
            False,
            "<= 100 MiB",
        ),
    ]


def _request_rows(servers: list[Server], prep: w.Prepared, scale: w.Scale) -> list[Row]:
    rows = []
    cases = [
        ("manifest GET by tag, c=32", w.manifest_get, ">= 3x"),
        ("manifest HEAD by tag, c=32", w.manifest_head, ">= 3x"),
        (f"tags/list of {scale.tags} tags, c=32", w.tags_list, ">= 3x"),
        ("manifest GET by tag, Bearer token, c=32", w.manifest_get_bearer, ">= 3x"),
        ("manifest HEAD by tag, Bearer token, c=32", w.manifest_head_bearer, ">= 3x"),
        (f"tags/list of {scale.tags} tags, Bearer token, c=32", w.tags_list_bearer, ">= 3x"),
        (f"_catalog pages of 100 over {scale.repositories} repos, c=32", w.catalog, ">= 3x"),
    ]
    for name, fn, target in cases:
        console.log(name)
        for server in servers:  # warm-up
            w.wrk(server.url, ["/v2/"], seconds=1)
        result = measure(servers, scale.rounds, lambda s, fn=fn: fn(s, prep, scale))  # type: ignore[misc]
        rows.append(Row(name, "req/s", *_pair(result), True, target))
    name = (
        f"{scale.pullers} concurrent image pulls ({scale.layers} x {scale.layer_bytes >> 10} KiB)"
    )
    console.log(name)
    result = measure(servers, scale.rounds, lambda s: w.image_pulls(s, prep, scale))
    rows.append(Row(name, "pulls/s", *_pair(result), True, ">= 1x"))
    return rows


def _startup_row(servers: list[Server], scale: w.Scale) -> Row:
    console.log("restart to first GET /v2/")

    def restart(server: Server) -> float:
        server.stop()
        return server.start()

    result = measure(servers, scale.rounds, restart)
    name = f"start to first GET /v2/ with {scale.repositories} repos"
    return Row(name, "s", *_pair(result), False, "< 1 s")


def _pair(result: dict[str, float]) -> tuple[float, float]:
    return result["portside"], result["reference"]


def table(rows: list[Row]) -> Table:
    """The results as a rich table."""
    out = Table(title="Portside vs reference registry (distribution 2.8.2), medians")
    for column in ("workload", "unit", "portside", "reference", "ratio", "target"):
        out.add_column(column, justify="left" if column == "workload" else "right")
    for row in rows:
        out.add_row(
            row.name, row.unit, f"{row.portside:,.2f}", f"{row.reference:,.2f}",
            f"{row.ratio:.2f}x", row.target,
        )  # fmt: skip
    return out


def markdown(rows: list[Row], scale_name: str, workers: int, seconds: float) -> str:
    """The results as a Markdown section for docs/benchmarks.md."""
    lines = [
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, scale `{scale_name}`, Portside with "
        f"{workers} worker(s), {seconds:.0f} s in all.",
        f"Machine: {platform.machine()}, {_cpu_count()} cores, Python {platform.python_version()},"
        f" {platform.platform()}.",
        "",
        "| workload | unit | Portside | reference | ratio | target |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.unit} | {row.portside:,.2f} | {row.reference:,.2f} | "
            f"{row.ratio:.2f}x | {row.target} |"
        )
    return "\n".join(lines) + "\n"


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 0


def _default_workers() -> int:
    """How many workers `portside serve` starts without `--workers` here (its settings read
    this environment too)."""
    from portside.config import load_settings

    return load_settings().workers


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    """Parse arguments, run, print (and optionally write) the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=["full", "tiny"], default="full")
    parser.add_argument("--rounds", type=int, default=None)
    # The default is `portside serve`'s: the table shows what a user who starts it gets.
    parser.add_argument(
        "--workers", type=int, default=None, help="Portside worker processes [serve's default]"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="parent of both data dirs")
    parser.add_argument("--markdown", type=Path, default=None, help="write the table here")
    args = parser.parse_args()
    # A terminated run unwinds like an interrupted one: its `finally` blocks stop both servers
    # (each in its own process group, out of reach of a signal sent to this one's).
    signal.signal(signal.SIGTERM, _terminated)
    scale = w.FULL if args.scale == "full" else w.TINY
    if args.rounds:
        scale = w.Scale(**{**scale.__dict__, "rounds": args.rounds})
    root = Path(tempfile.mkdtemp(prefix="portside-bench-", dir=args.workdir))
    workers = args.workers if args.workers is not None else _default_workers()
    how = "given" if args.workers is not None else "`portside serve`'s default"
    console.log(f"Portside runs {workers} worker process(es) ({how})")
    started = time.perf_counter()
    try:
        rows = run(scale, args.workers, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    console.print(table(rows))
    if args.markdown:
        args.markdown.write_text(markdown(rows, args.scale, workers, time.perf_counter() - started))


if __name__ == "__main__":
    main()
