"""The figures of a scaling report, from raw timings.

Strong scaling: a fixed total of U units is shared by p workers; with T(p)
the wall time, throughput is U / T(p) and speedup S(p) = T(1) / T(p).
Weak scaling: each of p workers does U units; throughput is p·U / T(p) and
the (scaled) speedup is S(p) = p·T(1) / T(p).  In both, S(p) is the ratio of
throughputs, which is how it is computed here.

Parallel efficiency is S(p) / p.  The Karp-Flatt metric estimates the
serial fraction from a measured speedup: e = (1/S - 1/p) / (1 - 1/p), for
p > 1 (undefined for one worker).  Efficiency above 1 (a negative
Karp-Flatt fraction) would mean more than ideal scaling: noise, here.

The rounds give each figure a range: a speedup lies between the slowest
round over the fastest one-worker round and the fastest over the slowest.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def speedup(throughput: float, base_throughput: float) -> float:
    if base_throughput <= 0:
        raise ValueError(f"base_throughput must be > 0, got {base_throughput!r}")
    return throughput / base_throughput


def efficiency(speedup_: float, workers: int) -> float:
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    return speedup_ / workers


def karp_flatt(speedup_: float, workers: int) -> float | None:
    """The experimentally determined serial fraction; None for one worker."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    if speedup_ <= 0:
        raise ValueError(f"speedup must be > 0, got {speedup_!r}")
    if workers == 1:
        return None
    return (1 / speedup_ - 1 / workers) / (1 - 1 / workers)


def summary(samples: Sequence[float]) -> dict[str, float]:
    """Median, spread and extremes of a non-empty list of rates."""
    if not samples:
        raise ValueError("samples must not be empty")
    return {
        "median": statistics.median(samples),
        "mean": statistics.fmean(samples),
        "stdev": statistics.stdev(samples) if len(samples) > 1 else 0.0,
        "min": min(samples),
        "max": max(samples),
    }


def relative_spread(samples: Sequence[float]) -> float:
    """(max - min) / median: how far apart the rounds were."""
    stats = summary(samples)
    return (stats["max"] - stats["min"]) / stats["median"] if stats["median"] else math.inf


def half_spread(samples: Sequence[float]) -> float:
    """Half of (max - min) / median: the ``± x%`` of a table's row."""
    return relative_spread(samples) / 2


def speedup_range(samples: Sequence[float], base_samples: Sequence[float]) -> tuple[float, float]:
    """The lowest and highest speedup the rounds allow."""
    if not samples or not base_samples:
        raise ValueError("samples and base_samples must not be empty")
    if min(base_samples) <= 0:
        raise ValueError(f"base_samples must be > 0, got {min(base_samples)!r}")
    return min(samples) / max(base_samples), max(samples) / min(base_samples)
