"""The timed workloads. Each returns one figure for one server; `run.py` repeats and compares."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

from benchmarks.loadgen import ab_head, curl, curl_headers, wrk
from benchmarks.populate import Image
from benchmarks.servers import Server

__all__ = ["Prepared", "Scale"]

MANIFEST_ACCEPT = (
    "application/vnd.oci.image.manifest.v1+json,"
    "application/vnd.docker.distribution.manifest.v2+json"
)


@dataclass(frozen=True)
class Scale:
    """Sizes of one benchmark run."""

    blob_bytes: int
    chunked_bytes: int
    chunk_bytes: int
    tags: int
    repositories: int
    layer_bytes: int
    layers: int
    pullers: int
    wrk_seconds: float
    rounds: int
    pushers: int  # clients pushing images at once
    pushes_each: int
    mixed_clients: int
    mixed_seconds: float
    uploads: int  # monolithic uploads at once
    upload_bytes: int
    warm_up: bool = True


FULL = Scale(
    1 << 30, 256 << 20, 16 << 20, 1000, 10_000, 4 << 20, 5, 200, 5.0, 3,
    24, 4, 24, 30.0, 64, 16 << 20,
)  # fmt: skip
TINY = Scale(
    4 << 20, 4 << 20, 1 << 20, 20, 30, 256 << 10, 5, 4, 1.0, 1,
    3, 1, 3, 2.0, 4, 1 << 20, warm_up=False,
)  # fmt: skip


@dataclass
class Prepared:
    """Inputs made once per run and data pushed once per server."""

    blob_file: Path
    blob_digest: str
    chunk_files: list[Path]
    chunked_digest: str
    catalog_pages: dict[str, list[str]] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)
    pushes: dict[str, int] = field(default_factory=dict)
    # Per server: headers that authenticate a pull (Host and a fresh Bearer token), if any.
    auth: dict[str, Callable[[], dict[str, str]]] = field(default_factory=dict)

    def auth_headers(self, server: Server) -> dict[str, str]:
        """The headers of an authenticated pull from `server` ({} for a server measured open)."""
        make = self.auth.get(server.name)
        return make() if make is not None else {}

    def next_repository(self, server: Server, kind: str) -> str:
        """A fresh repository name per push, counted per server (the first is `<kind>1`)."""
        self.pushes[server.name + kind] = self.pushes.get(server.name + kind, 0) + 1
        return f"bench/{kind}{self.pushes[server.name + kind]}"


def _upload_url(server: Server, repo: str) -> str:
    status, headers = curl_headers("-X", "POST", f"{server.url}/v2/{repo}/blobs/uploads/")
    if status != 202:
        raise RuntimeError(f"{server.name}: upload start answered {status}")
    return urljoin(server.url, headers["location"])


def _with_digest(location: str, digest: str) -> str:
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def push_blob(server: Server, prep: Prepared) -> float:
    """MB/s of one blob pushed as POST + PUT of the whole body (a monolithic upload)."""
    location = _upload_url(server, prep.next_repository(server, "push"))
    status, seconds = curl(
        "-X", "PUT", "-T", str(prep.blob_file),
        "-H", "Content-Type: application/octet-stream",
        _with_digest(location, prep.blob_digest),
    )  # fmt: skip
    if status != 201:
        raise RuntimeError(f"{server.name}: blob PUT answered {status}")
    return prep.blob_file.stat().st_size / seconds / 1e6


def push_chunked(server: Server, prep: Prepared) -> float:
    """MB/s of a chunked upload: POST, one PATCH per chunk with Content-Range, PUT."""
    import time

    started = time.perf_counter()
    location = _upload_url(server, prep.next_repository(server, "chunked"))
    offset = 0
    for chunk in prep.chunk_files:
        size = chunk.stat().st_size
        status, headers = curl_headers(
            "-X", "PATCH", "--data-binary", f"@{chunk}",
            "-H", "Content-Type: application/octet-stream",
            "-H", f"Content-Range: {offset}-{offset + size - 1}",
            location,
        )  # fmt: skip
        if status != 202:
            raise RuntimeError(f"{server.name}: PATCH answered {status}")
        location = urljoin(server.url, headers["location"])
        offset += size
    status, _ = curl("-X", "PUT", _with_digest(location, prep.chunked_digest))
    if status != 201:
        raise RuntimeError(f"{server.name}: final PUT answered {status}")
    return offset / (time.perf_counter() - started) / 1e6


def pull_blob(server: Server, prep: Prepared) -> float:
    """MB/s of one GET of the large blob."""
    status, seconds = curl(f"{server.url}/v2/bench/push1/blobs/{prep.blob_digest}")
    if status != 200:
        raise RuntimeError(f"{server.name}: blob GET answered {status}")
    return prep.blob_file.stat().st_size / seconds / 1e6


def _rate(server: Server, paths: list[str], scale: Scale, **kwargs: object) -> float:
    result = wrk(server.url, paths, seconds=scale.wrk_seconds, **kwargs)  # type: ignore[arg-type]
    if result.errors:
        raise RuntimeError(f"{server.name}: {result.errors} error responses for {paths[0]}")
    return result.rate


def manifest_get(server: Server, prep: Prepared, scale: Scale) -> float:
    """req/s of manifest GET by tag at concurrency 32."""
    headers = {"Accept": MANIFEST_ACCEPT}
    return _rate(server, ["/v2/bench/image/manifests/v1"], scale, headers=headers)


def manifest_head(server: Server, prep: Prepared, scale: Scale) -> float:
    """req/s of manifest HEAD by tag at concurrency 32 (ApacheBench: wrk cannot do HEAD)."""
    url = f"{server.url}/v2/bench/image/manifests/v1"
    result = ab_head(url, headers={"Accept": MANIFEST_ACCEPT}, seconds=scale.wrk_seconds)
    if result.errors:
        raise RuntimeError(f"{server.name}: {result.errors} failed HEAD requests")
    return result.rate


def manifest_get_bearer(server: Server, prep: Prepared, scale: Scale) -> float:
    """req/s of manifest GET by tag at concurrency 32, with a Bearer token where asked."""
    headers = {"Accept": MANIFEST_ACCEPT, **prep.auth_headers(server)}
    return _rate(server, ["/v2/bench/image/manifests/v1"], scale, headers=headers)


def manifest_head_bearer(server: Server, prep: Prepared, scale: Scale) -> float:
    """req/s of manifest HEAD by tag at concurrency 32, with a Bearer token where asked."""
    url = f"{server.url}/v2/bench/image/manifests/v1"
    headers = {"Accept": MANIFEST_ACCEPT, **prep.auth_headers(server)}
    result = ab_head(url, headers=headers, seconds=scale.wrk_seconds)
    if result.errors:
        raise RuntimeError(f"{server.name}: {result.errors} failed HEAD requests")
    return result.rate


def tags_list_bearer(server: Server, prep: Prepared, scale: Scale) -> float:
    """req/s of the full tags/list at concurrency 32, with a Bearer token where asked."""
    return _rate(server, ["/v2/bench/tags/tags/list"], scale, headers=prep.auth_headers(server))


def tags_list(server: Server, prep: Prepared, scale: Scale) -> float:
    """req/s of the full tags/list of a repository with many tags, concurrency 32."""
    return _rate(server, ["/v2/bench/tags/tags/list"], scale)


def catalog(server: Server, prep: Prepared, scale: Scale) -> float:
    """req/s of catalog pages of 100 (all pages round-robin), concurrency 32."""
    return _rate(server, prep.catalog_pages[server.name], scale)


class PeakMemory:
    """Samples the resident size of every process of a server in a background thread."""

    def __init__(self, server: Server, interval: float = 0.02) -> None:
        self._server = server
        self._interval = interval
        self._stop = threading.Event()
        self.peak_by_pid: dict[int, int] = {}

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for pid, rss in self._server.rss_by_process().items():
                self.peak_by_pid[pid] = max(rss, self.peak_by_pid.get(pid, 0))

    @contextmanager
    def sampling(self) -> Iterator[None]:
        """Sample while the block runs."""
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join()

    def peak_mib(self) -> float:
        """The largest resident size any one process reached, in MiB."""
        return max(self.peak_by_pid.values(), default=0) / (1 << 20)
