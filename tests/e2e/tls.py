"""TLS and name resolution for tests that address registries by their login servers.

`trustme` makes a throwaway certificate authority and a server certificate for the login
servers; `resolve_localhost` makes `NAME.localhost` resolve to 127.0.0.1 inside the test
process (as systemd-resolved does on desktops; glibc here resolves only `localhost` itself).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

__all__ = ["Certificates", "make_certificates", "resolve_localhost"]


@dataclass(frozen=True)
class Certificates:
    """Files of a throwaway CA and a server certificate it signed."""

    ca: Path
    cert: Path
    key: Path


def make_certificates(directory: Path, *names: str) -> Certificates:
    """A new CA and a server certificate for `names` (plus 127.0.0.1), written as PEM files.

    Name each login server: TLS clients refuse a wildcard directly under `localhost`.
    """
    authority = trustme.CA()
    issued = authority.issue_cert(*names, "127.0.0.1")
    files = Certificates(directory / "ca.pem", directory / "server.pem", directory / "key.pem")
    authority.cert_pem.write_to_path(str(files.ca))
    issued.private_key_pem.write_to_path(str(files.key))
    with open(files.cert, "wb") as handle:
        for blob in issued.cert_chain_pems:
            handle.write(blob.bytes())
    return files


@contextmanager
def resolve_localhost() -> Iterator[None]:
    """Within the block, `*.localhost` resolves to 127.0.0.1 in this process."""
    original = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return original(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = original
