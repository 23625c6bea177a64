"""Azurite as the Azure Blob backend for tests: `azurite-blob` on a free loopback port.

Azurite comes from npm (`npm install --prefix .tools azurite`); the project-local copy in
.tools/ is preferred over one on PATH. Telemetry is off and data lives in a temp dir.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.clients import ServerProcess, free_port, require_tool

__all__ = ["ACCOUNT", "ACCOUNT_KEY", "Azurite", "start_azurite"]

# The emulator's well-known development account (public, documented by Microsoft).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
READY_TIMEOUT = 30.0
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Azurite:
    """A running Azurite blob service."""

    endpoint: str  # http://127.0.0.1:PORT/devstoreaccount1
    process: ServerProcess
    data_dir: Path

    @property
    def connection_string(self) -> str:
        """A connection string for the development account at this endpoint."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.endpoint};"
        )

    def stop(self) -> None:
        """Stop Azurite by its pid and remove its data (the log stays for post-mortems)."""
        self.process.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def azurite_executable() -> str:
    """`azurite-blob` from the project's .tools/ (npm --prefix), else from PATH."""
    local = PROJECT_ROOT / ".tools" / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    return require_tool("azurite-blob")


def start_azurite(workdir: Path) -> Azurite:
    """Start the blob service in `workdir`; wait until it answers HTTP."""
    port = free_port()
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        azurite_executable(),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(data_dir),
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
    ]
    process = ServerProcess.start("azurite", argv, workdir / "azurite.log", cwd=workdir)
    server = Azurite(f"http://127.0.0.1:{port}/{ACCOUNT}", process, data_dir)

    def ready() -> bool:
        # Unauthenticated, so 403; any HTTP answer means the service is up.
        return httpx.get(f"{server.endpoint}?comp=list", timeout=2.0).status_code < 500

    process.wait_ready(ready, timeout=READY_TIMEOUT)
    return server
