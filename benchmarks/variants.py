"""The rows beyond one server pair: Portside on PostgreSQL, pulls through nginx, and the
concurrent workloads (benchmarks/concurrency.py).

Portside on PostgreSQL ("portside-pg") runs beside Portside on SQLite and the reference for the
whole run; the reference has no database, so both Portside variants are compared with the same
reference measurements, taken in the same alternating rounds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console

from benchmarks import concurrency as c
from benchmarks import workloads as w
from benchmarks.proxied import ACCEL_PREFIX, behind_nginx
from benchmarks.results import Row, measure, pair
from benchmarks.servers import Server, start_portside

__all__ = ["PG", "concurrent_rows", "nginx_rows", "postgres_server"]

console = Console()
PG = "portside-pg"


@contextlib.contextmanager
def postgres_server(root: Path, workers: int | None, admin_password: str) -> Iterator[Server]:
    """Portside (not yet started) on a fresh database of a throwaway PostgreSQL server that
    tests/backends/postgres.py starts (durability off there, as in the metadata tests)."""
    from tests.backends.postgres import PostgresCluster

    cluster = PostgresCluster.start()
    try:
        cluster.execute('CREATE DATABASE "bench"')
        server = start_portside(root, workers, admin_password)
        server.name = PG
        server.env["PORTSIDE_DATABASE_URL"] = cluster.url("bench")
        yield server
    finally:
        cluster.stop()


def nginx_rows(
    portside: Server,
    reference: Server,
    prep: w.Prepared,
    root: Path,
    workers: int | None,
    rounds: int,
) -> list[Row]:
    """The 1 GiB pull through nginx as docs/operations.md configures it (TLS), for both
    servers, and for Portside handing the file to nginx (`accel_redirect_prefix`)."""
    mib = prep.blob_file.stat().st_size >> 20
    path = f"/v2/bench/push1/blobs/{prep.blob_digest}"
    # A second Portside over the same data, the only one told to answer X-Accel-Redirect: a
    # direct pull from it would get an empty body.
    accel = start_portside(portside.workdir, workers)
    accel.name, accel.env = "portside-accel", {**portside.env, **accel.env}
    accel.env["PORTSIDE_ACCEL_REDIRECT_PREFIX"] = ACCEL_PREFIX
    accel.start()
    rates: dict[str, float] = {}
    try:
        with contextlib.ExitStack() as fronts:
            front = {
                s.name: fronts.enter_context(
                    behind_nginx(s, root / f"nginx-{s.name}",
                                 portside.workdir / "data" / "blobs" if s is accel else None)
                )
                for s in (portside, accel, reference)
            }  # fmt: skip

            def pull(server: Server) -> float:
                status, seconds, size = front[server.name].pull(path)
                if status != 200 or size != prep.blob_file.stat().st_size:
                    raise RuntimeError(f"{server.name} through nginx: {status}, {size} bytes")
                return size / seconds / 1e6

            for server in (portside, accel, reference):
                pull(server)  # warm-up
            rates = measure([portside, accel, reference], rounds, pull)
    finally:
        accel.stop()
    name = f"pull {mib} MiB blob through nginx (TLS)"
    return [
        Row(name, "MB/s", *pair(rates), True, ">= 1.2x"),
        Row(f"{name}, X-Accel-Redirect", "MB/s", *pair(rates, "portside-accel"), True, ">= 1.2x"),
    ]


def _once(servers: list[Server], fn: Callable[[Server], c.Latencies]) -> dict[str, c.Latencies]:
    return {s.name: fn(s) for s in servers}


def _no_errors(results: dict[str, c.Latencies], what: str) -> None:
    for name, result in results.items():
        if result.errors:
            console.log(f"[red]{name}: {result.errors} failed {what}")


def concurrent_rows(
    servers: list[Server], prep: w.Prepared, scale: w.Scale, root: Path
) -> list[Row]:
    """Many clients at once: image pulls, image pushes (on SQLite and PostgreSQL too), a
    sustained mixed load, and concurrent uploads."""
    main = [s for s in servers if s.name != PG]
    rows: list[Row] = []
    n = scale.pullers
    console.log(f"{n} clients pulling images at once")
    pulls = _once(main, lambda s: c.image_pulls(s, prep.images[s.name], "bench/image", n))
    _no_errors(pulls, "pulls")
    image = f"({scale.layers} x {scale.layer_bytes >> 10} KiB)"
    rows += [
        Row(f"{n} concurrent image pulls {image}", "pulls/s",
            *pair({k: len(v.by_kind["pull"]) / v.wall for k, v in pulls.items()}), True, "-"),
        Row(f"{n} concurrent image pulls: errors", "errors",
            *pair({k: float(v.errors) for k, v in pulls.items()}), False, "0"),
    ]  # fmt: skip
    for share in (0.5, 0.99):
        rows.append(
            Row(f"{n} concurrent image pulls: manifest GET p{round(share * 100)}", "ms",
                *pair({k: v.ms("manifest GET", share) for k, v in pulls.items()}), False, "-")
        )  # fmt: skip
    console.log(f"{scale.pushers} clients pushing images at once")
    pushes = _once(servers, lambda s: c.image_pushes(s, scale.pushers, scale.pushes_each, 2))
    _no_errors(pushes, "pushes")
    for variant, label in (("portside", "SQLite"), (PG, "PostgreSQL")):
        if variant not in pushes:
            continue
        what = f"{scale.pushers} concurrent image pushes (2 x 1-8 MiB), {label}"
        rate = {k: v.count() / v.wall for k, v in pushes.items()}
        p99 = {k: v.ms("image push", 0.99) for k, v in pushes.items()}
        rows.append(Row(what, "pushes/s", *pair(rate, variant), True, ">= 1x"))
        rows.append(Row(f"{what}: p99", "ms", *pair(p99, variant), False, "<= 1x"))
    rows += _mixed_rows(main, prep, scale)
    count, size = scale.uploads, scale.upload_bytes
    console.log(f"{count} concurrent {size >> 20} MiB uploads")
    uploaded = {s.name: c.uploads(s, root / "uploads", count, size) for s in main}
    what = f"{count} concurrent {size >> 20} MiB uploads"
    rows += [
        Row(f"{what}: wall time", "s", *pair({k: v[0] for k, v in uploaded.items()}), False,
            ">= 1x"),
        Row(f"{what}: peak RSS summed over processes (shared pages once per process)", "MiB",
            *pair({k: v[1] for k, v in uploaded.items()}), False, "<= 2x ref + idle"),
        Row(f"{what}: peak PSS summed over processes (shared pages once)", "MiB",
            *pair({k: v[2] for k, v in uploaded.items()}), False, "<= 2x ref + idle"),
    ]  # fmt: skip
    return rows


def _mixed_rows(servers: list[Server], prep: w.Prepared, scale: w.Scale) -> list[Row]:
    n, seconds = scale.mixed_clients, scale.mixed_seconds
    console.log(f"mixed load: {n} clients for {seconds:.0f} s each")

    def one(server: Server) -> c.Latencies:
        pages = prep.catalog_pages[server.name][:20]
        return c.mixed_load(server, prep.images[server.name], "bench/image", pages, n, seconds)

    mixed = _once(servers, one)
    what = f"mixed load, {n} clients, {seconds:.0f} s"
    rows = [
        Row(f"{what}: ops/s", "ops/s", *pair({k: v.count() / v.wall for k, v in mixed.items()}),
            True, ">= 1x"),
        Row(f"{what}: errors", "errors", *pair({k: float(v.errors) for k, v in mixed.items()}),
            False, "0"),
    ]  # fmt: skip
    from benchmarks.client import MIX

    for kind, _ in MIX:
        for share in (0.5, 0.99):
            values = {k: v.ms(kind, share) for k, v in mixed.items()}
            label = f"p{round(share * 100)}"
            rows.append(Row(f"mixed load: {kind} {label}", "ms", *pair(values), False, "-"))
    return rows
