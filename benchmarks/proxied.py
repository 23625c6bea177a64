"""A server behind nginx, configured as docs/operations.md says (TLS included).

The documented block is taken as written; only the node (one, this server), the listen
address and the certificate files are the benchmark's own (tests/backends/nginx.py does the
replacing). With `accel_root`, the document's X-Accel-Redirect location is added, aliasing that
storage root, for a Portside started with `accel_redirect_prefix`.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.servers import Server
from tests.backends.nginx import ACCEL_PREFIX, accel_location, documented_config, start_nginx
from tests.e2e.tls import Certificates, make_certificates

__all__ = ["NginxFront", "behind_nginx"]


class NginxFront:
    """nginx's HTTPS address in front of one server, and the CA that signed its certificate."""

    def __init__(self, port: int, certificates: Certificates) -> None:
        self.url = f"https://127.0.0.1:{port}"
        self.ca = certificates.ca

    def pull(self, path: str) -> tuple[int, float, int]:
        """GET `path` through nginx with curl: status, seconds, bytes received."""
        out = subprocess.run(
            ["curl", "-sS", "--cacert", str(self.ca), "-o", "/dev/null",
             "-w", "%{http_code} %{time_total} %{size_download}", self.url + path],
            check=True, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        return int(out[0]), float(out[1]), int(out[2])


def _one_node(block: str) -> str:
    """The documented block with its upstream reduced to one node."""
    return re.sub(
        r"(upstream\s+portside\s*\{)[^}]*\}",
        lambda m: m.group(1) + "\n    server 10.0.0.11:5000;\n}",
        block,
        count=1,
    )


@contextmanager
def behind_nginx(
    server: Server, root: Path, accel_root: Path | None = None
) -> Iterator[NginxFront]:
    """nginx in front of `server` for the duration of the block."""
    root.mkdir(parents=True, exist_ok=True)
    certificates = make_certificates(root, "localhost")
    block = _one_node(documented_config())
    if accel_root is not None:
        block = block.rstrip().removesuffix("}") + accel_location(accel_root) + "}\n"
    # The reference has no /healthz; its /v2/ is open.
    nginx, port = start_nginx(root / "nginx", [server.port], certificates, block, probe="/v2/")
    try:
        yield NginxFront(port, certificates)
    finally:
        nginx.stop()


__all__ += ["ACCEL_PREFIX"]
