"""Load generators outside the Python process: curl for bulk bytes, wrk for small requests.

A Python client in the measuring process would be the bottleneck for both (the reference
registry answers small requests faster than one Python client can send them), so the timed
traffic always comes from these C programs.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

__all__ = ["WrkResult", "ab_head", "curl", "curl_headers", "wrk"]


def curl(*args: str) -> tuple[int, float]:
    """Run one curl transfer; returns (HTTP status, seconds)."""
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), float(out[1])


def curl_headers(*args: str) -> tuple[int, dict[str, str]]:
    """Run curl and return the status and response headers (lower-cased names)."""
    result = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-D", "-", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    blocks = [b for b in result.replace("\r", "").split("\n\n") if b.strip()]
    lines = blocks[-1].splitlines()
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


class WrkResult:
    """Requests per second and the count of error responses from one wrk run."""

    def __init__(self, output: str) -> None:
        match = re.search(r"Requests/sec:\s+([\d.]+)", output)
        if match is None:
            raise RuntimeError(f"wrk printed no rate:\n{output}")
        self.rate = float(match[1])
        bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
        self.errors = int(bad[1]) if bad else 0


def wrk(
    base_url: str,
    paths: list[str],
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    connections: int = 32,
    seconds: float = 10.0,
    threads: int = 2,
) -> WrkResult:
    """Drive `paths` round-robin with wrk at the given concurrency."""
    lua_paths = ", ".join(f'"{p}"' for p in paths)
    lua_headers = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in (headers or {}).items())
    script = (
        f"local paths = {{{lua_paths}}}\n"
        "local i = 0\n"
        f"{lua_headers}"
        "request = function()\n"
        "  i = i % #paths + 1\n"
        f'  return wrk.format("{method}", paths[i])\n'
        "end\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                handle.name,
                base_url,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        Path(handle.name).unlink()
    return WrkResult(out)


def ab_head(
    url: str, *, headers: dict[str, str] | None = None, connections: int = 32, seconds: float = 10.0
) -> WrkResult:
    """HEAD requests with ApacheBench (wrk waits for a body a HEAD response never sends)."""
    argv = ["ab", "-i", "-k", "-q", "-c", str(connections), "-t", str(max(1, round(seconds)))]
    argv += ["-n", "10000000"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], check=True, capture_output=True, text=True).stdout
    rate = re.search(r"Requests per second:\s+([\d.]+)", out)
    if rate is None:
        raise RuntimeError(f"ab printed no rate:\n{out}")
    bad = re.search(r"Non-2xx responses:\s+(\d+)", out)
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    result = WrkResult.__new__(WrkResult)
    result.rate = float(rate[1])
    result.errors = (int(bad[1]) if bad else 0) + (int(failed[1]) if failed else 0)
    return result
