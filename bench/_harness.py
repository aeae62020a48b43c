"""The benchmark harness shared by bench/*.py: run each scenario's
threadline side and baseline side alternately in one process, report the
ratio of their median rates, print a table and optionally write JSON.

Targets are printed as PASS/MISS and never fail the run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import threadline as tl
from threadline import _channel

# A run function does the work for one sample and returns (operations, seconds).
RunFn = Callable[[int], tuple[int, float]]


# -- the harness ----------------------------------------------------------------------


@dataclass
class Side:
    label: str
    samples: list[float] = field(default_factory=list)  # rates, ops/s

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass
class Result:
    scenario: str
    description: str
    ops: int
    threadline: Side
    baseline: Side
    target: float | None  # minimum rate ratio, or None for "report only"
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.threadline.median / self.baseline.median

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "info"
        return "PASS" if self.ratio >= self.target else "MISS"


@dataclass
class Scenario:
    name: str
    description: str
    threadline_label: str
    threadline: RunFn
    baseline_label: str
    baseline: RunFn
    ops: int  # full-run size
    quick_ops: int
    target: float | None
    note: str = ""


def measure(sc: Scenario, ops: int, repeats: int) -> Result:
    tl_side = Side(sc.threadline_label)
    base_side = Side(sc.baseline_label)
    warm = max(ops // 20, 100)
    sc.threadline(warm)
    sc.baseline(warm)
    for i in range(repeats):
        # Alternate which side goes first, so slow drift hits both alike.
        order = [(sc.threadline, tl_side), (sc.baseline, base_side)]
        if i % 2:
            order.reverse()
        for fn, side in order:
            done, seconds = fn(ops)
            side.samples.append(done / seconds)
    return Result(sc.name, sc.description, ops, tl_side, base_side, sc.target, sc.note)


def measure_in_processes(sc: Scenario, ops: int, repeats: int, count: int, quick: bool) -> Result:
    """``measure`` in *count* fresh copies of this script; samples pooled."""
    tl_side = Side(sc.threadline_label)
    base_side = Side(sc.baseline_label)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            out = os.path.join(tmp, f"{i}.json")
            command = [sys.executable, sys.argv[0], "--only", sc.name, "--repeats", str(repeats)]
            command += ["--json", out] + (["--quick"] if quick else [])
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            with open(out, encoding="utf-8") as f:
                [doc] = json.load(f)["results"]
            tl_side.samples += doc["threadline"]["samples"]
            base_side.samples += doc["baseline"]["samples"]
    return Result(sc.name, sc.description, ops, tl_side, base_side, sc.target, sc.note)


def gil_enabled() -> bool:
    return bool(getattr(sys, "_is_gil_enabled", lambda: True)())


def print_columns(rows: Sequence[Sequence[str]]) -> None:
    """Print *rows* (the first is the header) as aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print()


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "build": sys.version,
        "gil_enabled": gil_enabled(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "switch_interval_s": sys.getswitchinterval(),
        "threadline": tl.__version__,
        "channels": "pure Python" if _channel.PURE else "compiled core",
        "loadavg_1min_at_start": loadavg(),
    }


def loadavg() -> float | None:
    """The 1-minute load average, to flag runs on a busy machine."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return None


def _rate(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f} M/s"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k/s"
    return f"{value:.0f} /s"


def print_table(results: list[Result]) -> None:
    header = ("scenario", "threadline", "baseline", "ratio", "target", "result")
    rows = [header]
    for r in results:
        target = "-" if r.target is None else f">= {r.target:.2f}x"
        rows.append(
            (
                r.scenario,
                _rate(r.threadline.median),
                _rate(r.baseline.median),
                f"{r.ratio:.2f}x",
                target,
                r.verdict,
            )
        )
    print_columns(rows)
    for r in results:
        print(f"{r.scenario}: {r.description}; {r.threadline.label} vs {r.baseline.label}", end="")
        print(f"; {r.ops} ops per sample" + (f"; {r.note}" if r.note else ""))


def run_cli(description: str, all_scenarios: list[Scenario], argv: list[str] | None = None) -> int:
    """Parse the command line, run the chosen scenarios, print and save."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--repeats", type=int, default=None, help="samples per side (default 7, quick 3)"
    )
    parser.add_argument(
        "--only", action="append", metavar="SCENARIO", help="run only this scenario (repeatable)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="K",
        help="run in K fresh processes and pool their samples (thread scheduling can settle "
        "into a fast or a slow mode for a whole process; default 1)",
    )
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error(f"--processes must be >= 1, got {args.processes}")
    repeats = args.repeats or (3 if args.quick else 7)
    if repeats < 1:
        parser.error(f"--repeats must be >= 1, got {repeats}")

    env = environment()
    print(
        f"threadline {env['threadline']} on {env['implementation']} {env['python']}, "
        f"GIL {'enabled' if env['gil_enabled'] else 'disabled'}, {env['cpus']} CPUs, "
        f"{env['platform']}; channels: {env['channels']}"
    )
    pooled = f" from each of {args.processes} processes" if args.processes > 1 else ""
    print(
        f"{'quick' if args.quick else 'full'} run; median of {repeats} samples per side{pooled}, "
        "ratio = threadline rate / baseline rate (higher is better)\n"
    )

    chosen = all_scenarios
    if args.only:
        known = {sc.name for sc in chosen}
        unknown = sorted(set(args.only) - known)
        if unknown:
            parser.error(f"unknown scenario(s) {unknown}; choose from {sorted(known)}")
        chosen = [sc for sc in chosen if sc.name in args.only]

    results = []
    total = time.perf_counter()
    for sc in chosen:
        t0 = time.perf_counter()
        ops = sc.quick_ops if args.quick else sc.ops
        if args.processes > 1:
            result = measure_in_processes(sc, ops, repeats, args.processes, args.quick)
        else:
            result = measure(sc, ops, repeats)
        results.append(result)
        print(
            f"  {sc.name:<11} {result.ratio:5.2f}x  ({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
    elapsed = time.perf_counter() - total
    print()
    print_table(results)
    load = loadavg()
    print(f"\ntotal time {elapsed:.1f} s", end="")
    if load is not None and env["loadavg_1min_at_start"] is not None:
        print(
            f"; load average {env['loadavg_1min_at_start']:.2f} at start, {load:.2f} at end", end=""
        )
        if env["loadavg_1min_at_start"] > (env["cpus"] or 1) / 2:  # before we ran
            print(" (a busy machine: expect noisy numbers)", end="")
    print()

    if args.json:
        doc = {
            "environment": env,
            "mode": "quick" if args.quick else "full",
            "repeats": repeats,
            "statistic": "median",
            "results": [
                {
                    **{k: v for k, v in asdict(r).items() if k not in ("threadline", "baseline")},
                    "ratio": r.ratio,
                    "verdict": r.verdict,
                    "threadline": {
                        "label": r.threadline.label,
                        "median": r.threadline.median,
                        "best": max(r.threadline.samples),
                        "worst": min(r.threadline.samples),
                        "samples": r.threadline.samples,
                    },
                    "baseline": {
                        "label": r.baseline.label,
                        "median": r.baseline.median,
                        "best": max(r.baseline.samples),
                        "worst": min(r.baseline.samples),
                        "samples": r.baseline.samples,
                    },
                }
                for r in results
            ],
            "total_seconds": elapsed,
            "loadavg_1min_at_end": load,
        }
        write_json(args.json, doc)
    return 0


def write_json(path: str, doc: dict[str, Any]) -> None:
    """Write a report's JSON document to *path*, and say so."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")
