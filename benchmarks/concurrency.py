"""The concurrent workloads: many clients at once against one server.

- image pulls by N curl processes (manifest + config + layers each, keep-alive): pulls/s and
  the manifest GET's latency under that load;
- image pushes by N client processes (benchmarks/client.py): pushes/s and p99;
- a sustained mixed load by N keep-alive client processes, the same seeded sequence for every
  server: ops/s, errors, p50/p99 per operation type;
- N monolithic uploads at once (curl PUTs): wall time and the peak resident size of the whole
  server (all its processes together).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx

from benchmarks.client import MANIFEST_ACCEPT
from benchmarks.populate import Image, make_blob_file
from benchmarks.servers import Server

__all__ = ["Latencies", "image_pulls", "image_pushes", "mixed_load", "uploads"]

_ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], share: float) -> float:
    """The `share` percentile (nearest rank) of `values`, 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


@dataclass
class Latencies:
    """What a concurrent workload measured: seconds per operation kind, errors, wall time."""

    wall: float = 0.0
    by_kind: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: int = 0

    def count(self) -> int:
        """Operations that completed without error."""
        return sum(len(v) for v in self.by_kind.values())

    def ms(self, kind: str, share: float) -> float:
        """Latency percentile of one kind, in milliseconds."""
        return percentile(self.by_kind.get(kind, []), share) * 1000


def image_pulls(server: Server, image: Image, repo: str, clients: int) -> Latencies:
    """`clients` curl processes at once, each pulling manifest + config + layers on one
    connection; every transfer must succeed."""
    base = f"{server.url}/v2/{repo}"
    urls = [f"{base}/manifests/v1", f"{base}/blobs/{image.config}"]
    urls += [f"{base}/blobs/{d}" for d in image.layers]
    argv = [
        "curl",
        "-sS",
        "-H",
        f"Accept: {MANIFEST_ACCEPT}",
        "-w",
        "%{http_code} %{time_total}\\n",
    ]
    for url in urls:
        argv += ["-o", "/dev/null", url]
    result = Latencies()
    started = time.perf_counter()
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(clients)]
    try:
        outputs = [p.communicate()[0] for p in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    result.wall = time.perf_counter() - started
    for proc, out in zip(procs, outputs, strict=True):
        lines = [line.split() for line in out.splitlines() if line.strip()]
        bad = proc.returncode != 0 or len(lines) != len(urls)
        bad = bad or any(code != "200" for code, _ in lines)
        if bad:
            result.errors += 1
            continue
        result.by_kind["manifest GET"].append(float(lines[0][1]))
        result.by_kind["pull"].append(sum(float(t) for _, t in lines))
    return result


def _clients(specs: list[dict[str, object]]) -> Latencies:
    """Run one benchmarks.client process per spec, all starting at one instant."""
    start_at = time.time() + 2.0 + 0.05 * len(specs)  # every process imported and connected
    procs = []
    try:
        for spec in specs:
            argv = [
                sys.executable,
                "-m",
                "benchmarks.client",
                json.dumps({**spec, "start_at": start_at}),
            ]
            procs.append(
                subprocess.Popen(
                    argv, cwd=_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
            )
        outputs = [p.communicate() for p in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    result = Latencies(wall=time.time() - start_at)
    for proc, (out, err) in zip(procs, outputs, strict=True):
        if proc.returncode != 0:
            raise RuntimeError(f"benchmark client failed ({proc.returncode}): {err[-2000:]}")
        for line in out.splitlines():
            kind, seconds, ok = json.loads(line)
            if ok:
                result.by_kind[kind].append(seconds)
            else:
                result.errors += 1
    return result


def image_pushes(server: Server, clients: int, per_client: int, layers: int) -> Latencies:
    """`clients` processes pushing `per_client` images each, fresh layers of 1-8 MiB."""
    tag = f"{server.name}-{time.time_ns()}"
    specs: list[dict[str, object]] = [
        {"url": server.url, "mode": "push", "seed": i, "name": f"c{i}-{tag}", "count": per_client,
         "layers": layers}
        for i in range(clients)
    ]  # fmt: skip
    return _clients(specs)


def mixed_load(
    server: Server, image: Image, repo: str, pages: list[str], clients: int, seconds: float
) -> Latencies:
    """`clients` keep-alive processes running the seeded mixed sequence for `seconds`."""
    tag = f"{server.name}-{time.time_ns()}"
    specs: list[dict[str, object]] = [
        {"url": server.url, "mode": "mixed", "seed": 1000 + i, "name": f"m{i}-{tag}",
         "duration": seconds, "image": repo, "layer": image.layers[0],
         "tags_path": "/v2/bench/tags/tags/list", "catalog_pages": pages}
        for i in range(clients)
    ]  # fmt: skip
    result = _clients(specs)
    result.wall = seconds
    return result


class TotalMemory:
    """Samples the summed resident size of all of a server's processes: RSS (shared pages
    counted in every process) and PSS (each shared page counted once)."""

    def __init__(self, server: Server, interval: float = 0.02) -> None:
        self._server = server
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self.peak_pss = 0

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, sum(self._server.rss_by_process().values()))
            self.peak_pss = max(self.peak_pss, sum(self._server.pss_by_process().values()))

    def __enter__(self) -> TotalMemory:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def uploads(server: Server, workdir: Path, count: int, size: int) -> tuple[float, float, float]:
    """`count` different blobs of `size` bytes PUT at once (monolithic, curl): wall seconds and
    the server's peak resident size in MiB, all its processes summed, as RSS and as PSS."""
    workdir.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(count):
        path = workdir / f"upload{index}.bin"
        files.append((path, make_blob_file(path, size)))
    locations = []
    with httpx.Client(base_url=server.url) as client:
        for index in range(count):
            started = client.post(f"/v2/bench/uploads{index % 8}/blobs/uploads/")
            started.raise_for_status()
            locations.append(urljoin(server.url, started.headers["location"]))
    commands = []
    for (path, digest), location in zip(files, locations, strict=True):
        sep = "&" if "?" in location else "?"
        url = f"{location}{sep}digest={digest}"
        commands.append(
            ["curl", "-sS", "--fail", "-o", "/dev/null", "-X", "PUT", "-T", str(path), url]
        )
    with TotalMemory(server) as memory:
        started_at = time.perf_counter()
        procs = [subprocess.Popen(c) for c in commands]
        codes = [p.wait() for p in procs]
        wall = time.perf_counter() - started_at
    for path, _ in files:
        path.unlink()
    if any(codes):
        raise RuntimeError(f"{server.name}: concurrent uploads failed: {codes}")
    return wall, memory.peak / (1 << 20), memory.peak_pss / (1 << 20)


def median_of(values: list[float]) -> float:
    """The median, 0 for none."""
    return statistics.median(values) if values else 0.0
