"""Made-up runner results, for the report and verdict tests."""

from __future__ import annotations

from typing import Any


def raw(
    threads: list[float],
    processes: list[float],
    *,
    spread: float = 0.05,
    **interp: Any,
) -> dict[str, Any]:
    """A runner's result with the given median throughputs for 1, 2, ...
    workers; each point's three rounds lie *spread* below and above it."""
    interpreter = {
        "executable": "/usr/bin/python3",
        "version": "3.14.0",
        "implementation": "CPython",
        "free_threaded_build": False,
        "gil_enabled_at_end": True,
        "gil_reenabled_by": [],
        "jit_enabled": None,
        "cpus": 4,
        "load_average": 0.1,
        **interp,
    }
    runs = []
    for mode, rates in (("threads", threads), ("processes", processes)):
        for i, rate in enumerate(rates):
            rounds = [rate * (1 - spread), rate, rate * (1 + spread)]
            runs.append(
                {
                    "mode": mode,
                    "workers": i + 1,
                    "units_per_round": 100,
                    "seconds": [100 / r for r in rounds],
                    "throughput": rounds,
                }
            )
    return {"interpreter": interpreter, "unit_seconds": 0.001, "units": 100, "runs": runs}


def free_threaded(**interp: Any) -> dict[str, Any]:
    """The interpreter fields of a free-threaded build that ran without the GIL."""
    return {"version": "3.14.0", "free_threaded_build": True, "gil_enabled_at_end": False, **interp}
