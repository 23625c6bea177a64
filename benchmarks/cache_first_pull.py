"""The first (uncached) pull of one large layer through a cache rule, against pulling it from
the upstream directly, in one run: time to first byte and throughput of each.

    python -m benchmarks.cache_first_pull [--mib 256]

The upstream is the reference registry (Debian docker-registry) on loopback; Portside (one
worker, embedded defaults) serves `hub/*` from its `library/*`. Order: a direct pull (which
also warms the upstream's page cache), the first pull through Portside (fetched, streamed on
while stored), a second direct pull, and the second pull through Portside (now local).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from benchmarks.servers import start_portside, start_reference

_PASSWORD = "bench-admin-password-1"
_CHUNK = 1 << 20


def _push(client: httpx.Client, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = client.post(f"/v2/{repository}/blobs/uploads/")
    location = started.headers["Location"]
    separator = "&" if "?" in location else "?"

    def chunks() -> Iterator[bytes]:
        view = memoryview(data)
        for at in range(0, len(data), 8 * _CHUNK):
            yield bytes(view[at : at + 8 * _CHUNK])

    done = client.put(f"{location}{separator}digest={digest}", content=chunks())
    assert done.status_code == 201, done.text
    return digest


def _timed_get(url: str) -> tuple[float, float, int]:
    """(seconds to the first byte, seconds to the last, bytes) of one GET."""
    with httpx.Client(timeout=600) as client:
        started = time.perf_counter()
        first = 0.0
        total = 0
        with client.stream("GET", url) as response:
            assert response.status_code == 200, response.read()
            for chunk in response.iter_raw(_CHUNK):
                if not total:
                    first = time.perf_counter() - started
                total += len(chunk)
        return first, time.perf_counter() - started, total


def main() -> None:
    """Run the comparison and print one table (and JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cachebench-"))
    upstream = start_reference(root / "reference")
    portside = start_portside(root / "portside", workers=1)
    portside.env.update(
        {"PORTSIDE_ALLOW_PRIVATE_NETWORK_TARGETS": "true", "PORTSIDE_ADMIN_PASSWORD": _PASSWORD}
    )
    upstream.start()
    portside.start()
    try:
        layer = os.urandom(args.mib << 20)
        with httpx.Client(base_url=upstream.url, timeout=600) as client:
            digest = _push(client, "library/big", layer)
        rule = {
            "name": "hub-library",
            "sourceRepository": f"127.0.0.1:{upstream.port}/library/*",
            "targetRepository": "hub/*",
        }
        created = httpx.post(
            f"{portside.url}/api/v1/registries/default/cacheRules",
            json=rule,
            auth=("admin", _PASSWORD),
        )
        assert created.status_code == 201, created.text
        runs = [
            ("upstream directly", f"{upstream.url}/v2/library/big/blobs/{digest}"),
            ("Portside, first pull", f"{portside.url}/v2/hub/big/blobs/{digest}"),
            ("upstream directly, again", f"{upstream.url}/v2/library/big/blobs/{digest}"),
            ("Portside, cached", f"{portside.url}/v2/hub/big/blobs/{digest}"),
        ]
        results = []
        print(f"{args.mib} MiB layer; time to first byte, total, throughput")
        for name, url in runs:
            first, total, size = _timed_get(url)
            assert size == len(layer)
            rate = size / total / (1 << 20)
            results.append({"run": name, "ttfb_ms": first * 1000, "seconds": total, "MiBps": rate})
            print(f"  {name:26} {first * 1000:8.1f} ms {total:7.2f} s {rate:8.1f} MiB/s")
        print(json.dumps(results))
    finally:
        portside.stop()
        upstream.stop()


if __name__ == "__main__":
    main()
