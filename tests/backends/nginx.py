"""nginx in front of several Portside nodes, configured by the block docs/operations.md shows.

The test configuration is the documented one: the ```nginx block is read out of the document
and only what a test must own is replaced (node addresses, listen address, certificate paths);
nginx's process-wide settings and its temporary paths are wrapped around it. A change to the
document that breaks nginx, or the registry behind it, breaks the cluster test.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Sequence
from pathlib import Path

import httpx

from tests.e2e.clients import ServerProcess, free_port, require_tool
from tests.e2e.tls import Certificates

__all__ = [
    "ACCEL_PREFIX",
    "OPERATIONS_DOC",
    "accel_location",
    "documented_config",
    "start_nginx",
]

OPERATIONS_DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"

_FENCE = re.compile(r"^```nginx\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_ACCEL_FENCE = re.compile(r"^```nginx accel\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# The prefix the documented X-Accel-Redirect location answers (its `accel_redirect_prefix`).
ACCEL_PREFIX = "/_portside_storage/"
_UPSTREAM = re.compile(r"\bupstream\s+portside\s*\{([^}]*)\}")
_NODE = re.compile(r"(\bserver\s+)[^\s;]+:\d+")


def documented_config(doc: str = "") -> str:
    """The one ```nginx block of docs/operations.md (or of `doc`), as written."""
    blocks = _FENCE.findall(doc or OPERATIONS_DOC.read_text())
    assert len(blocks) == 1, f"expected one nginx block in {OPERATIONS_DOC}, found {len(blocks)}"
    return str(blocks[0])


def accel_location(storage_root: Path, doc: str = "") -> str:
    """The documented X-Accel-Redirect location (```nginx accel), aliasing `storage_root`."""
    blocks = _ACCEL_FENCE.findall(doc or OPERATIONS_DOC.read_text())
    assert len(blocks) == 1, f"expected one nginx accel block in {OPERATIONS_DOC}"
    block = str(blocks[0])
    assert f"location {ACCEL_PREFIX} " in block, f"the accel block has no location {ACCEL_PREFIX}"
    return _replace_once(block, r"^[ \t]*alias\s.*$", f"        alias {storage_root}/;")


def _replace_once(text: str, pattern: str, replacement: str) -> str:
    """`text` with the one line matching `pattern` replaced (the directive must be there)."""
    found = re.compile(pattern, re.MULTILINE)
    assert len(found.findall(text)) == 1, f"the documented nginx block has no single {pattern!r}"
    return found.sub(lambda _: replacement, text)


def for_test(block: str, port: int, upstreams: Sequence[int], certificates: Certificates) -> str:
    """The documented block with the test's node ports, listen port and certificate files."""
    upstream = _UPSTREAM.search(block)
    assert upstream, "the documented nginx block has no `upstream portside { ... }`"
    nodes = _NODE.findall(upstream.group(1))
    assert len(nodes) == len(upstreams), (
        f"documented {len(nodes)} nodes, the test runs {len(upstreams)}"
    )
    ports = iter(upstreams)
    servers = _NODE.sub(lambda m: f"{m.group(1)}127.0.0.1:{next(ports)}", upstream.group(1))
    block = block[: upstream.start(1)] + servers + block[upstream.end(1) :]
    block = _replace_once(block, r"^[ \t]*listen 443 ssl;", f"    listen 127.0.0.1:{port} ssl;")
    # Certificate lines are pointed at the test's files where the document has them; where it
    # has none, nginx refuses the block, as it would refuse it pasted.
    block = re.sub(
        r"^[ \t]*ssl_certificate\s.*$",
        f"    ssl_certificate {certificates.cert};",
        block,
        flags=re.M,
    )
    return re.sub(
        r"^[ \t]*ssl_certificate_key\s.*$",
        f"    ssl_certificate_key {certificates.key};",
        block,
        flags=re.M,
    )


def _main(root: Path, http: str) -> str:
    """nginx's process-wide settings and temporary paths (the test's own) around `http`."""
    indented = "".join(f"    {line}" if line.strip() else line for line in http.splitlines(True))
    return f"""\
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
worker_processes 1;
events {{ worker_connections 1024; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
{indented}}}
"""


def start_nginx(
    root: Path,
    upstreams: Sequence[int],
    certificates: Certificates,
    block: str = "",
    probe: str = "/healthz",
) -> tuple[ServerProcess, int]:
    """Start nginx with the documented configuration (or `block`) over `upstreams` (loopback
    ports), serving HTTPS with `certificates`; returns it and its port once `probe` answers
    200 through it."""
    nginx = require_tool("nginx")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = root / "nginx.conf"
    http = for_test(block or documented_config(), port, upstreams, certificates)
    conf.write_text(_main(root, http))
    argv = [nginx, "-c", str(conf), "-p", str(root), "-e", str(root / "error.log")]
    server = ServerProcess.start("nginx", argv, root / "nginx.out")
    verify = ssl.create_default_context(cafile=str(certificates.ca))
    url = f"https://127.0.0.1:{port}{probe}"
    server.wait_ready(lambda: httpx.get(url, verify=verify).status_code == 200)
    return server, port
