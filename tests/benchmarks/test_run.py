"""The benchmark still runs end to end (at tiny sizes; no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.clients import require_tool
from tests.process_groups import stop_group

pytestmark = pytest.mark.e2e


def test_tiny_benchmark_produces_every_row(tmp_path: Path) -> None:
    for tool in ("docker-registry", "wrk", "ab", "curl", "nginx"):
        require_tool(tool)
    out = tmp_path / "table.md"
    log = tmp_path / "run.log"
    argv = [sys.executable, "-m", "benchmarks.run", "--scale", "tiny", "--markdown", str(out)]
    with log.open("wb") as output:
        # Its own session; on any failure (a timeout included) SIGTERM lets the run stop its
        # two servers (each in its own group) before the group is killed.
        run = subprocess.Popen(
            argv,
            cwd=Path(__file__).resolve().parents[2],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = run.wait(timeout=240)
        finally:
            stop_group(run, grace=60)
    assert code == 0, log.read_text()[-3000:]
    rows = [
        line for line in out.read_text().splitlines() if line.startswith("| ") and "---" not in line
    ]
    body = rows[1:]
    names = [row.split("|")[1].strip() for row in body]
    assert len(body) == 48, names
    every = " ".join(names)
    for variant in (
        "Bearer token",
        "PostgreSQL",
        "through nginx",
        "X-Accel-Redirect",
        "mixed",
        "peak PSS",
    ):
        assert variant in every, variant
    assert "worker(s)" in out.read_text() and "Machine:" in out.read_text()
    for row in body:
        name, unit = row.split("|")[1].strip(), row.split("|")[2].strip()
        portside, reference = (float(c.strip().replace(",", "")) for c in row.split("|")[3:5])
        if unit == "errors":
            assert portside == reference == 0, row  # no request of any client failed
        elif "catalog p" not in name:  # a two-second mixed load may draw no catalog page
            assert portside > 0 and reference > 0, row
