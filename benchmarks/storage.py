"""`python -m benchmarks.storage`: push and pull one blob through Portside on each driver.

Portside runs with its embedded metadata and blobs on the filesystem, on S3 (SeaweedFS) and on
Azure Blob (Azurite), one after the other in one run; curl moves the bytes (monolithic PUT,
then GET). The emulators start from the test suite's backend helpers.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from azure.storage.blob import BlobServiceClient
from rich.console import Console
from rich.table import Table

from benchmarks import workloads as w
from benchmarks.populate import make_blob_file
from benchmarks.servers import Server, start_portside
from tests.backends.azurite import start_azurite
from tests.backends.seaweedfs import ACCESS_KEY, SECRET_KEY, start_seaweedfs

console = Console()


def _s3_env(root: Path) -> tuple[dict[str, str], Callable[[], None]]:
    server = start_seaweedfs(root / "seaweedfs")
    server.create_bucket("bench")
    env = {
        "PORTSIDE_STORAGE_DRIVER": "s3",
        "PORTSIDE_S3_BUCKET": "bench",
        "PORTSIDE_S3_ENDPOINT_URL": server.endpoint_url,
        "PORTSIDE_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "PORTSIDE_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "PORTSIDE_S3_ADDRESSING_STYLE": "path",
    }
    return env, server.stop


def _azure_env(root: Path) -> tuple[dict[str, str], Callable[[], None]]:
    server = start_azurite(root / "azurite")
    with BlobServiceClient.from_connection_string(server.connection_string) as client:
        client.create_container("bench")
    env = {
        "PORTSIDE_STORAGE_DRIVER": "azure",
        "PORTSIDE_AZURE_CONTAINER": "bench",
        "PORTSIDE_AZURE_CONNECTION_STRING": server.connection_string,
    }
    return env, server.stop


def measure(
    name: str, env: dict[str, str], root: Path, size: int, rounds: int
) -> tuple[float, float]:
    """Median push and pull MB/s of a `size`-byte blob on one driver."""
    server: Server = start_portside(root / name, workers=2)
    server.env.update(env)
    prep = w.Prepared(root / "blob.bin", "", [], "")
    prep.blob_digest = (root / "blob.digest").read_text()
    try:
        server.start()
        pushes = [w.push_blob(server, prep) for _ in range(rounds)]
        pulls = [w.pull_blob(server, prep) for _ in range(rounds)]
    finally:
        server.stop()
    return statistics.median(pushes), statistics.median(pulls)


def main() -> None:
    """Run each driver in turn and print push/pull MB/s with ratios to the filesystem."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument(
        "--drivers", default="filesystem,s3,azure", help="comma-separated; filesystem first"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="portside-storage-bench-"))
    try:
        (root / "blob.digest").write_text(make_blob_file(root / "blob.bin", args.size_mib << 20))
        results = {}
        setups = {"filesystem": None, "s3": _s3_env, "azure": _azure_env}
        for name in args.drivers.split(","):
            setup = setups[name]
            console.log(f"{name}: push and pull {args.size_mib} MiB x {args.rounds}")
            env, stop = setup(root) if setup else ({}, lambda: None)
            try:
                results[name] = measure(name, env, root, args.size_mib << 20, args.rounds)
            finally:
                stop()
    finally:
        if args.keep:
            console.log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    table = Table(title=f"{args.size_mib} MiB blob through Portside, medians (MB/s)")
    for column in ("driver", "push", "pull", "push vs filesystem", "pull vs filesystem"):
        table.add_column(column, justify="right")
    base_push, base_pull = results["filesystem"]
    for name, (push, pull) in results.items():
        table.add_row(
            name,
            f"{push:,.0f}",
            f"{pull:,.0f}",
            f"{push / base_push:.2f}x",
            f"{pull / base_pull:.2f}x",
        )
    console.print(table)


if __name__ == "__main__":
    main()
