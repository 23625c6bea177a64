"""Rows of the result table and the alternating measurement that fills them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.servers import Server

__all__ = ["Row", "measure", "pair"]


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    name: str
    unit: str
    portside: float
    reference: float
    higher_is_better: bool
    target: str

    @property
    def ratio(self) -> float:
        """Portside's advantage (> 1 means Portside is better; 1 when both are 0)."""
        better, worse = (self.portside, self.reference)
        if not self.higher_is_better:
            better, worse = worse, better
        if better == worse:
            return 1.0
        return better / worse if worse else math.inf

    @property
    def ratio_text(self) -> str:
        """The ratio as the table shows it."""
        return f"{self.ratio:.2f}x" if math.isfinite(self.ratio) else "-"


def measure(servers: list[Server], rounds: int, fn: Callable[[Server], float]) -> dict[str, float]:
    """Median of `rounds` runs per server, alternating which goes first."""
    results: dict[str, list[float]] = {s.name: [] for s in servers}
    for index in range(rounds):
        order = servers if index % 2 == 0 else list(reversed(servers))
        for server in order:
            results[server.name].append(fn(server))
    return {name: statistics.median(values) for name, values in results.items()}


def pair(result: dict[str, float], portside: str = "portside") -> tuple[float, float]:
    """(Portside's figure, the reference's) from a `measure` result."""
    return result[portside], result["reference"]
