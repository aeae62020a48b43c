"""Threadline against Go: the same ping-pong and pipeline programs, ns per message.

Programs (a message is one send and its receive):

  pingpong   the main thread and one echo thread bounce an int over two
             unbuffered channels: Channel(0) vs queue.Queue(1) vs Go's
             ``make(chan int)``; n round trips are 2n messages
  pipeline   a source thread sends n ints through K stages (default 4), each a
             thread that receives, adds 1 and sends on; the main thread sums
             them: Channel(128) vs queue.Queue(128) vs Go's
             ``make(chan int, 128)``; ns per message = elapsed / n

The Go programs are bench/go/pingpong.go and bench/go/pipeline.go.  When
``go`` is on PATH they are built into a temporary directory and run with the
same sizes, once with GOMAXPROCS unset (Go's default: one per CPU) and once
with GOMAXPROCS=1; without Go only threadline and queue.Queue are reported.
Every column is measured in the same run, alternating repeat by repeat, and
the median of the repeats is reported.  The exit status is 0 whatever the
numbers.  ``THREADLINE_PURE=1`` measures the pure-Python channel.

    python bench/vs_go.py                  # full run, about a minute
    python bench/vs_go.py --quick          # smoke test, a few seconds
    python bench/vs_go.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from _harness import environment, loadavg, print_columns, write_json

import threadline as tl
from threadline import _channel

GO_DIR = Path(__file__).resolve().parent / "go"

# One sample: (n, stages, capacity) -> (messages, seconds).
Run = Callable[[int, int, int], tuple[int, float]]


# -- ping-pong ------------------------------------------------------------------------


def pingpong_channel(n: int, stages: int, capacity: int) -> tuple[int, float]:
    ping: tl.Channel[int] = tl.Channel(0)
    pong: tl.Channel[int] = tl.Channel(0)

    def echo() -> None:
        send = pong.send
        for v in ping:
            send(v + 1)
        pong.close()

    t = threading.Thread(target=echo)
    t.start()
    send, recv = ping.send, pong.recv
    v = 0
    start = time.perf_counter()
    for _ in range(n):
        send(v)
        v = recv()
    elapsed = time.perf_counter() - start
    ping.close()
    t.join()
    assert v == n, (v, n)
    return 2 * n, elapsed


def pingpong_queue(n: int, stages: int, capacity: int) -> tuple[int, float]:
    ping: queue.Queue[int | None] = queue.Queue(1)
    pong: queue.Queue[int] = queue.Queue(1)

    def echo() -> None:
        get, put = ping.get, pong.put
        while (v := get()) is not None:
            put(v + 1)

    t = threading.Thread(target=echo)
    t.start()
    put, get = ping.put, pong.get
    v = 0
    start = time.perf_counter()
    for _ in range(n):
        put(v)
        v = get()
    elapsed = time.perf_counter() - start
    put(None)
    t.join()
    assert v == n, (v, n)
    return 2 * n, elapsed


# -- pipeline -------------------------------------------------------------------------


def _expected_sum(n: int, stages: int) -> int:
    return n * (n - 1) // 2 + n * stages


def pipeline_channel(n: int, stages: int, capacity: int) -> tuple[int, float]:
    chans: list[tl.Channel[int]] = [tl.Channel(capacity) for _ in range(stages + 1)]
    go = threading.Event()

    def source() -> None:
        go.wait()
        send = chans[0].send
        for i in range(n):
            send(i)
        chans[0].close()

    def stage(inp: tl.Channel[int], out: tl.Channel[int]) -> None:
        send = out.send
        for v in inp:
            send(v + 1)
        out.close()

    threads = [threading.Thread(target=stage, args=pair) for pair in pairwise(chans)]
    threads.append(threading.Thread(target=source))
    for t in threads:
        t.start()
    start = time.perf_counter()
    go.set()
    total = 0
    for v in chans[-1]:
        total += v
    elapsed = time.perf_counter() - start
    for t in threads:
        t.join()
    assert total == _expected_sum(n, stages), total
    return n, elapsed


def pipeline_queue(n: int, stages: int, capacity: int) -> tuple[int, float]:
    # queue.Queue(0) is unbounded: the nearest to an unbuffered channel is Queue(1).
    queues: list[queue.Queue[int | None]] = [
        queue.Queue(max(capacity, 1)) for _ in range(stages + 1)
    ]
    go = threading.Event()

    def source() -> None:
        go.wait()
        put = queues[0].put
        for i in range(n):
            put(i)
        put(None)

    def stage(inp: queue.Queue[int | None], out: queue.Queue[int | None]) -> None:
        get, put = inp.get, out.put
        while (v := get()) is not None:
            put(v + 1)
        put(None)

    threads = [threading.Thread(target=stage, args=pair) for pair in pairwise(queues)]
    threads.append(threading.Thread(target=source))
    for t in threads:
        t.start()
    get = queues[-1].get
    start = time.perf_counter()
    go.set()
    total = 0
    while (v := get()) is not None:
        total += v
    elapsed = time.perf_counter() - start
    for t in threads:
        t.join()
    assert total == _expected_sum(n, stages), total
    return n, elapsed


# -- Go -------------------------------------------------------------------------------


def build_go(go: str, out_dir: Path) -> dict[str, Path]:
    """``go build`` each program into *out_dir*, with a throwaway cache."""
    env = {
        **os.environ,
        "GOCACHE": str(out_dir / "cache"),
        "GOPATH": str(out_dir / "gopath"),
        "GOFLAGS": "",
    }
    binaries = {}
    for name in ("pingpong", "pipeline"):
        exe = out_dir / name
        subprocess.run(
            [go, "build", "-o", str(exe), str(GO_DIR / f"{name}.go")],
            check=True,
            env=env,
            cwd=out_dir,
        )
        binaries[name] = exe
    return binaries


def go_runner(exe: Path, gomaxprocs: int | None) -> Run:
    env = dict(os.environ)
    env.pop("GOMAXPROCS", None)
    if gomaxprocs is not None:
        env["GOMAXPROCS"] = str(gomaxprocs)

    def run(n: int, stages: int, capacity: int) -> tuple[int, float]:
        command = [str(exe), f"-n={n}"]
        if exe.name == "pipeline":
            command += [f"-k={stages}", f"-cap={capacity}"]
        done = subprocess.run(command, check=True, env=env, capture_output=True, text=True)
        doc = json.loads(done.stdout)
        return int(doc["messages"]), float(doc["seconds"])

    return run


def go_version(go: str) -> str:
    done = subprocess.run([go, "version"], check=True, capture_output=True, text=True)
    return done.stdout.strip()


# -- measuring ------------------------------------------------------------------------


@dataclass
class Column:
    key: str
    label: str
    run: Run
    samples: list[float] = field(default_factory=list)  # ns per message

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass
class Program:
    name: str
    description: str
    n: int
    quick_n: int
    columns: list[Column]


def measure(program: Program, n: int, stages: int, capacity: int, repeats: int) -> None:
    warm = max(n // 20, 100)
    for col in program.columns:
        col.run(warm, stages, capacity)
    for i in range(repeats):
        # Rotate the order, so slow drift hits every column alike.
        shift = i % len(program.columns)
        for col in program.columns[shift:] + program.columns[:shift]:
            messages, seconds = col.run(n, stages, capacity)
            col.samples.append(seconds / messages * 1e9)


def _ns(value: float) -> str:
    return f"{value / 1000:.1f} us" if value >= 10_000 else f"{value:.0f} ns"


def print_table(programs: list[Program]) -> None:
    keys = [c.key for c in programs[0].columns]
    labels = {c.key: c.label for c in programs[0].columns}
    header = ["program", *(labels[k] for k in keys)]
    ratio_keys = [k for k in ("go", "go1", "queue") if k in keys]
    ratio_names = {"go": "tl/Go", "go1": "tl/Go(1)", "queue": "tl/queue"}
    header += [ratio_names[k] for k in ratio_keys]
    rows = [header]
    for p in programs:
        by = {c.key: c.median for c in p.columns}
        rows.append(
            [
                p.name,
                *(_ns(by[k]) for k in keys),
                *(f"{by['threadline'] / by[k]:.2f}x" for k in ratio_keys),
            ]
        )
    print_columns(rows)
    for p in programs:
        print(f"{p.name}: {p.description}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--repeats", type=int, default=None, help="samples per column (default 7, quick 3)"
    )
    parser.add_argument("--stages", type=int, default=4, help="pipeline stages (default 4)")
    parser.add_argument(
        "--capacity", type=int, default=128, help="pipeline channel capacity (default 128)"
    )
    parser.add_argument("--no-go", action="store_true", help="leave Go out even if it is found")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    if repeats < 1:
        parser.error(f"--repeats must be >= 1, got {repeats}")
    if args.stages < 0 or args.capacity < 0:
        parser.error("--stages and --capacity must be >= 0")

    env = environment()
    env["threadline_pure"] = _channel.PURE
    core = "pure Python" if _channel.PURE else "C core"
    print(
        f"threadline {env['threadline']} ({core} channels) on {env['implementation']} "
        f"{env['python']}, GIL {'enabled' if env['gil_enabled'] else 'disabled'}, "
        f"{env['cpus']} CPUs, {env['platform']}"
    )

    go = None if args.no_go else shutil.which("go")
    with tempfile.TemporaryDirectory(prefix="threadline-vs-go-") as tmp:
        binaries: dict[str, Path] = {}
        why = "--no-go" if args.no_go else "no `go` on PATH"
        if go is not None:
            try:
                version = go_version(go)
                binaries = build_go(go, Path(tmp))
            except (OSError, subprocess.CalledProcessError) as exc:
                why = f"building the Go programs failed: {exc}"
            else:
                env["go"] = version
                print(f"Go: {version}, built from {GO_DIR}")
        if not binaries:
            print(f"Go: not measured ({why}); reporting threadline and queue.Queue only")
        queue_cap = max(args.capacity, 1)
        tl_label = f"threadline ({'pure' if _channel.PURE else 'C'})"

        def columns(name: str, channel: Run, baseline: Run, queue_label: str) -> list[Column]:
            cols = [Column("threadline", tl_label, channel), Column("queue", queue_label, baseline)]
            if name in binaries:
                cols.append(Column("go", "Go", go_runner(binaries[name], None)))
                cols.append(Column("go1", "Go GOMAXPROCS=1", go_runner(binaries[name], 1)))
            return cols

        programs = [
            Program(
                "pingpong",
                "main thread and an echo thread, two unbuffered channels "
                "(Channel(0) / queue.Queue(1) / chan int); a round trip is 2 messages",
                n=20_000,
                quick_n=1_000,
                columns=columns("pingpong", pingpong_channel, pingpong_queue, "queue.Queue(1)"),
            ),
            Program(
                "pipeline",
                f"source -> {args.stages} stages (+1 each) -> sink over channels of capacity "
                f"{args.capacity} (queue.Queue({queue_cap})); ns per message = elapsed / n",
                n=50_000,
                quick_n=2_000,
                columns=columns(
                    "pipeline", pipeline_channel, pipeline_queue, f"queue.Queue({queue_cap})"
                ),
            ),
        ]
        print(
            f"{'quick' if args.quick else 'full'} run; median of {repeats} samples per column; "
            "ns per message (lower is better); ratios = threadline ns / other ns\n"
        )
        total = time.perf_counter()
        for p in programs:
            t0 = time.perf_counter()
            measure(p, p.quick_n if args.quick else p.n, args.stages, args.capacity, repeats)
            print(f"  {p.name:<9} ({time.perf_counter() - t0:.1f} s)", flush=True)
        elapsed = time.perf_counter() - total

    print()
    print_table(programs)
    load = loadavg()
    print(f"\ntotal time {elapsed:.1f} s", end="")
    if load is not None and env["loadavg_1min_at_start"] is not None:
        print(f"; load average {env['loadavg_1min_at_start']:.2f} at start, {load:.2f} at end")
    else:
        print()

    if args.json:
        doc: dict[str, Any] = {
            "environment": env,
            "mode": "quick" if args.quick else "full",
            "repeats": repeats,
            "statistic": "median",
            "unit": "ns per message",
            "stages": args.stages,
            "capacity": args.capacity,
            "results": [
                {
                    "program": p.name,
                    "description": p.description,
                    "n": p.quick_n if args.quick else p.n,
                    "columns": {
                        c.key: {
                            "label": c.label,
                            "median": c.median,
                            "best": min(c.samples),
                            "worst": max(c.samples),
                            "samples": c.samples,
                        }
                        for c in p.columns
                    },
                    "ratios": {
                        f"threadline/{c.key}": p.columns[0].median / c.median for c in p.columns[1:]
                    },
                }
                for p in programs
            ],
            "total_seconds": elapsed,
            "loadavg_1min_at_end": load,
        }
        write_json(args.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
