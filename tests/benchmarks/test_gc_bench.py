"""The collection benchmark still runs end to end at a small size (counts, not timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_gc_benchmark_collects_what_it_should_while_pushes_succeed(tmp_path: Path) -> None:
    out = tmp_path / "gc.json"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.gc", "--manifests", "500", "--json", str(out)],
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=240,
        capture_output=True,
    )
    result = json.loads(out.read_text())
    # 500 images in one repository, 4 in 5 deleted: each left its config and layer behind.
    assert (result["manifests"], result["manifests_deleted"]) == (500, 400)
    assert result["links_removed"] == result["links_expected"] == 800
    assert result["blobs_removed"] == result["blobs_expected"] == 800
    assert result["bytes_freed"] > 0
    assert result["pushes_failed"] == 0
    assert result["errors"] == [], "every image pushed during the collection reads back whole"
    assert result["pushes_during"] >= 1, "pushes went on while it collected"
    assert result["rss_peak_mib"] >= result["rss_before_mib"] > 0
