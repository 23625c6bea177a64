"""One concurrent benchmark client: `python -m benchmarks.client SPEC_JSON`, a process of its own.

Many of these run at once (benchmarks/concurrency.py starts them), so that the clients of a
concurrent workload are separate processes on separate keep-alive connections, not threads
sharing one interpreter lock. Each waits until the spec's `start_at` (wall clock) so that all
begin together, then prints one JSON line per operation: `[kind, seconds, ok]`.

Modes:
- `push`: `count` image pushes, each a small config and `layers` fresh layers of 1-8 MiB
  (HEAD, POST, monolithic PUT, as docker pushes) and the manifest.
- `mixed`: operations drawn from a seeded sequence until `duration` seconds have passed:
  manifest GETs, blob HEAD/GET, tags/list, catalog pages, monolithic and chunked image pushes.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable
from urllib.parse import urljoin

import httpx

MANIFEST_ACCEPT = (
    "application/vnd.oci.image.manifest.v1+json,"
    "application/vnd.docker.distribution.manifest.v2+json"
)
_OCI = "application/vnd.oci.image.manifest.v1+json"

# The mixed sequence: (operation, weight). Reads dominate, as they do on a real registry.
MIX = (
    ("manifest GET", 40),
    ("blob HEAD", 15),
    ("blob GET", 15),
    ("tags/list", 10),
    ("catalog", 6),
    ("monolithic push", 7),
    ("chunked push", 7),
)


def _digest(data: bytes | memoryview) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Pusher:
    """Fresh layers cut from one random buffer: a unique prefix makes each one new."""

    def __init__(self, client: httpx.Client, rng: random.Random, name: str) -> None:
        self._client = client
        self._rng = rng
        self._name = name
        self._pool = os.urandom(8 << 20)
        self._serial = 0

    def _fresh(self, low: int, high: int) -> bytes:
        self._serial += 1
        size = self._rng.randint(low, high)
        head = f"{self._name}-{self._serial}-{time.time_ns()}".encode().ljust(64, b".")
        return head + self._pool[: size - 64]

    def _location(self, repo: str) -> str:
        started = self._client.post(f"/v2/{repo}/blobs/uploads/")
        started.raise_for_status()
        return urljoin(str(self._client.base_url), started.headers["location"])

    def _blob(self, repo: str, data: bytes, chunk: int) -> dict[str, object]:
        digest = _digest(data)
        if self._client.head(f"/v2/{repo}/blobs/{digest}").status_code != 200:
            location = self._location(repo)
            for offset in range(0, len(data) if chunk else 0, chunk or 1):
                part = data[offset : offset + chunk]
                end = offset + len(part) - 1
                patched = self._client.patch(
                    location,
                    content=part,
                    headers={
                        "Content-Range": f"{offset}-{end}",
                        "Content-Type": "application/octet-stream",
                    },
                )
                patched.raise_for_status()
                location = urljoin(location, patched.headers["location"])
            body = b"" if chunk else data
            sep = "&" if "?" in location else "?"
            done = self._client.put(f"{location}{sep}digest={digest}", content=body)
            done.raise_for_status()
        return {"mediaType": "application/octet-stream", "digest": digest, "size": len(data)}

    def image(self, repo: str, layers: int, low: int, high: int, chunk: int = 0) -> None:
        """Push one image of `layers` fresh layers (chunked in `chunk` bytes if > 0)."""
        config = json.dumps({"os": "linux", "by": self._name, "n": self._serial}).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": _OCI,
            "config": {
                **self._blob(repo, config, 0),
                "mediaType": "application/vnd.oci.image.config.v1+json",
            },
            "layers": [self._blob(repo, self._fresh(low, high), chunk) for _ in range(layers)],
        }
        put = self._client.put(
            f"/v2/{repo}/manifests/{self._name}-{self._serial}",
            content=json.dumps(manifest).encode(),
            headers={"Content-Type": _OCI},
        )
        put.raise_for_status()


def _get(client: httpx.Client, path: str, **headers: str) -> Callable[[], None]:
    def run() -> None:
        client.get(path, headers=headers).raise_for_status()

    return run


def _operations(
    client: httpx.Client, spec: dict[str, object], rng: random.Random
) -> dict[str, Callable[[], None]]:
    image = str(spec["image"])
    layer = str(spec["layer"])
    pages = list(spec["catalog_pages"])  # type: ignore[call-overload]
    pusher = Pusher(client, rng, str(spec["name"]))
    repo = f"mixed/{spec['name']}"

    def head_blob() -> None:
        client.head(f"/v2/{image}/blobs/{layer}").raise_for_status()

    def catalog() -> None:
        client.get(rng.choice(pages)).raise_for_status()

    return {
        "manifest GET": _get(client, f"/v2/{image}/manifests/v1", Accept=MANIFEST_ACCEPT),
        "blob HEAD": head_blob,
        "blob GET": _get(client, f"/v2/{image}/blobs/{layer}"),
        "tags/list": _get(client, str(spec["tags_path"])),
        "catalog": catalog,
        "monolithic push": lambda: pusher.image(repo, 2, 1 << 20, 4 << 20),
        "chunked push": lambda: pusher.image(repo, 2, 1 << 20, 4 << 20, chunk=1 << 20),
    }


def _timed(kind: str, operation: Callable[[], None]) -> None:
    started = time.perf_counter()
    try:
        operation()
        ok = True
    except (httpx.HTTPError, KeyError) as exc:
        ok = False
        print(f"{kind}: {exc!r}", file=sys.stderr)
    print(json.dumps([kind, time.perf_counter() - started, ok]), flush=False)


def main() -> None:
    """Run the client the JSON spec on the command line describes."""
    spec = json.loads(sys.argv[1])
    rng = random.Random(int(spec["seed"]))
    with httpx.Client(base_url=str(spec["url"]), timeout=300) as client:
        client.get("/v2/")  # connect before the start line
        time.sleep(max(0.0, float(spec["start_at"]) - time.time()))
        if spec["mode"] == "push":
            pusher = Pusher(client, rng, str(spec["name"]))
            repo = f"pushes/{spec['name']}"
            for _ in range(int(spec["count"])):
                _timed(
                    "image push", lambda: pusher.image(repo, int(spec["layers"]), 1 << 20, 8 << 20)
                )
        else:
            operations = _operations(client, spec, rng)
            kinds = [kind for kind, _ in MIX]
            weights = [weight for _, weight in MIX]
            ends = float(spec["start_at"]) + float(spec["duration"])
            while time.time() < ends:
                kind = rng.choices(kinds, weights)[0]
                _timed(kind, operations[kind])
    sys.stdout.flush()


if __name__ == "__main__":
    main()
