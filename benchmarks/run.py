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
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import workloads as w
from benchmarks.bearer import ADMIN_PASSWORD, BearerAccess
from benchmarks.populate import make_blob_file, populate_repositories, push_image, push_tags
from benchmarks.results import Row, measure, pair
from benchmarks.servers import Server, start_portside, start_reference
from benchmarks.variants import PG, concurrent_rows, nginx_rows, postgres_server

console = Console()


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


def run(scale: w.Scale, workers: int | None, root: Path) -> list[Row]:
    """Start the servers, run every workload, stop them; the rows of the table. `workers`
    None runs Portside with `portside serve`'s default."""
    portside = start_portside(root / "portside", workers, ADMIN_PASSWORD)
    reference = start_reference(root / "reference")
    with contextlib.ExitStack() as stopping:  # every server is stopped, even if one fails to
        pg = stopping.enter_context(postgres_server(root / "portside-pg", workers, ADMIN_PASSWORD))
        servers = [portside, pg, reference]
        for server in servers:
            stopping.callback(server.stop)
        with ThreadPoolExecutor(len(servers)) as starting:  # each waits for its first answer
            for started in [starting.submit(server.start) for server in servers]:
                started.result()
        console.log("preparing inputs")
        prep = prepare(root, scale)
        for server in servers:
            console.log(f"seeding {server.name}")
            seed(server, prep, scale)
        for server in (portside, pg):
            prep.auth[server.name] = BearerAccess(server).headers
        rows = _transfer_rows([portside, reference], prep, scale)
        console.log("pulls through nginx")
        rows += nginx_rows(portside, reference, prep, root / "nginx", workers, scale.rounds)
        rows += _request_rows(servers, prep, scale)
        rows += concurrent_rows(servers, prep, scale, root)
        rows.append(_startup_row([portside, reference], scale))
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
        Row(f"push {mib} MiB blob (monolithic)", "MB/s", *pair(push), True, ">= 2x"),
        Row(
            f"chunked push {scale.chunked_bytes >> 20} MiB in {chunk_mib} MiB chunks",
            "MB/s",
            *pair(chunked),
            True,
            ">= 2x",
        ),
        Row(f"pull {mib} MiB blob", "MB/s", *pair(pull), True, ">= 1.2x"),
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
        ("manifest GET by tag, c=32", w.manifest_get, ">= 4x"),
        ("manifest HEAD by tag, c=32", w.manifest_head, ">= 4x"),
        (f"tags/list of {scale.tags} tags, c=32", w.tags_list, ">= 4x"),
        ("manifest GET by tag, Bearer token, c=32", w.manifest_get_bearer, ">= 4x"),
        ("manifest HEAD by tag, Bearer token, c=32", w.manifest_head_bearer, ">= 4x"),
        (f"tags/list of {scale.tags} tags, Bearer token, c=32", w.tags_list_bearer, ">= 4x"),
        (f"_catalog pages of 100 over {scale.repositories} repos, c=32", w.catalog, ">= 4x"),
    ]
    for name, fn, target in cases:
        console.log(name)
        for server in servers if scale.warm_up else []:
            w.wrk(server.url, ["/v2/"], seconds=1)
        result = measure(servers, scale.rounds, lambda s, fn=fn: fn(s, prep, scale))  # type: ignore[misc]
        rows.append(Row(name, "req/s", *pair(result), True, target))
        rows.append(Row(f"{name}, PostgreSQL", "req/s", *pair(result, PG), True, target))
    return rows


def _startup_row(servers: list[Server], scale: w.Scale) -> Row:
    console.log("restart to first GET /v2/")

    def restart(server: Server) -> float:
        server.stop()
        return server.start()

    result = measure(servers, scale.rounds, restart)
    name = f"start to first GET /v2/ with {scale.repositories} repos"
    return Row(name, "s", *pair(result), False, "<= 0.5 s")


def table(rows: list[Row]) -> Table:
    """The results as a rich table."""
    out = Table(title="Portside vs reference registry (distribution 2.8.2), medians")
    for column in ("workload", "unit", "portside", "reference", "ratio", "target"):
        out.add_column(column, justify="left" if column == "workload" else "right")
    for row in rows:
        out.add_row(
            row.name, row.unit, f"{row.portside:,.2f}", f"{row.reference:,.2f}",
            row.ratio_text, row.target,
        )  # fmt: skip
    return out


def markdown(rows: list[Row], scale_name: str, workers: int, seconds: float) -> str:
    """The results as a Markdown section for docs/benchmarks.md."""
    lines = [
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, scale `{scale_name}`, Portside with "
        f"{workers} worker(s), {seconds:.0f} s in all.",
        f"Machine: {machine()}.",
        "",
        "| workload | unit | Portside | reference | ratio | target |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.unit} | {row.portside:,.2f} | {row.reference:,.2f} | "
            f"{row.ratio_text} | {row.target} |"
        )
    return "\n".join(lines) + "\n"


def machine() -> str:
    """The machine in one line: CPU, cores, memory, Python, kernel."""
    import os

    model = next(
        (line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo")
         if line.startswith("model name")),
        platform.machine(),
    )  # fmt: skip
    kib = next((int(line.split()[1]) for line in _lines("/proc/meminfo")
                if line.startswith("MemTotal:")), 0)  # fmt: skip
    return (
        f"{model}, {os.cpu_count() or 0} cores, {kib / (1 << 20):.0f} GiB, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


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
    parser.add_argument(
        "--quick", action="store_true", help="one round, 2 s per rate, a 10 s mixed load"
    )
    parser.add_argument(
        "--mixed-seconds", type=float, default=None, help="length of the sustained mixed load"
    )
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
    if args.quick:
        scale = replace(scale, rounds=1, wrk_seconds=2.0, mixed_seconds=10.0, warm_up=False)
    if args.rounds:
        scale = replace(scale, rounds=args.rounds)
    if args.mixed_seconds:
        scale = replace(scale, mixed_seconds=args.mixed_seconds)
    root = Path(tempfile.mkdtemp(prefix="portside-bench-", dir=args.workdir))
    root.chmod(0o755)  # nginx's workers (an unprivileged user) read the blob files under it
    workers = args.workers if args.workers is not None else _default_workers()
    how = "given" if args.workers is not None else "`portside serve`'s default"
    console.log(f"Portside runs {workers} worker process(es) ({how}) on {machine()}")
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
