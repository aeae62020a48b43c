"""threadline race: slowdown and peak memory against the same program
without it, on realistic threaded workloads (bench/race_workloads/).

Each workload runs as a program of its own, plainly (python SCRIPT) and
under the detector (python -m threadline race SCRIPT), alternately,
``--repeats`` times; the table shows the median wall time, the slowdown,
the peak resident memory of each and their ratio, then the geometric mean.
Targets: geomean slowdown <= 5x, no workload above 25x, memory <= 3x.
threadline's own modules are byte-compiled first, as an installation does
(a run with PYTHONDONTWRITEBYTECODE would otherwise compile them on every
start, a cost no installed copy has); the programs checked are compiled on
every run, both plainly and by the detector, which rewrites them.

    python bench/race.py [--quick] [--repeats N] [--only NAME]
"""

from __future__ import annotations

import argparse
import compileall
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORKLOADS = Path(__file__).with_name("race_workloads")


def run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of *command*."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    stderr = ""
    if proc.stderr is not None:
        stderr = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(command)} exited with {code}:\n{stderr[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repeat")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--only", action="append", metavar="NAME")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    scripts = sorted(WORKLOADS.glob("*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem in args.only]
    package = Path(__import__("threadline").__file__).parent
    compileall.compile_dir(package, quiet=2)  # unwritable (an installed copy): compiled already
    print(f"threadline race on Python {sys.version.split()[0]}, {repeats} run(s) each, median\n")
    columns = ("plain s", "race s", "slowdown", "plain MiB", "race MiB", "memory")
    widths = (8, 8, 9, 10, 9, 7)
    header = f"{'workload':<20} " + " ".join(
        f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)
    )
    print(header)
    print("-" * len(header))
    slowdowns, memories = [], []
    for script in scripts:
        plain_t, race_t, plain_m, race_m = [], [], [], []
        for _ in range(repeats):
            t, m = run([sys.executable, str(script)])
            plain_t.append(t)
            plain_m.append(m)
            t, m = run([sys.executable, "-m", "threadline", "race", str(script)])
            race_t.append(t)
            race_m.append(m)
        p, r = statistics.median(plain_t), statistics.median(race_t)
        pm, rm = statistics.median(plain_m), statistics.median(race_m)
        slowdowns.append(r / p)
        memories.append(rm / pm)
        print(
            f"{script.stem:<20} {p:8.2f} {r:8.2f} {r / p:8.1f}x "
            f"{pm:10.1f} {rm:9.1f} {rm / pm:6.1f}x",
            flush=True,
        )
    geo = math.exp(statistics.fmean(math.log(s) for s in slowdowns))
    worst = max(slowdowns)
    memory = max(memories)
    print()
    print(f"geomean slowdown {geo:.1f}x (target <= 5x: {'PASS' if geo <= 5 else 'MISS'})")
    print(f"worst slowdown   {worst:.1f}x (target <= 25x: {'PASS' if worst <= 25 else 'MISS'})")
    print(f"worst memory     {memory:.1f}x (target <= 3x: {'PASS' if memory <= 3 else 'MISS'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
