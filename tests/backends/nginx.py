"""nginx as a round-robin load balancer in front of several Portside nodes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx

from tests.e2e.clients import ServerProcess, free_port, require_tool

__all__ = ["start_nginx"]


def _config(root: Path, port: int, upstreams: Sequence[int]) -> str:
    servers = "\n".join(
        f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;" for p in upstreams
    )
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
    upstream portside {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        # Stream uploads and downloads straight through; no size cap (layers are large).
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_http_version 1.1;
        location / {{
            proxy_pass http://portside;
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
            # A node that refuses the connection has seen nothing of the request, so even a
            # POST or PATCH may go to the next node.
            proxy_next_upstream error timeout non_idempotent;
            proxy_connect_timeout 2s;
        }}
    }}
}}
"""


def start_nginx(root: Path, upstreams: Sequence[int]) -> tuple[ServerProcess, int]:
    """Start nginx balancing over `upstreams` (loopback ports); returns it and its port."""
    nginx = require_tool("nginx")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(_config(root, port, upstreams))
    argv = [nginx, "-c", str(conf), "-p", str(root), "-e", str(root / "error.log")]
    server = ServerProcess.start("nginx", argv, root / "nginx.out")
    server.wait_ready(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200)
    return server, port
