"""The measuring protocol, run inside each interpreter under test:

    python -m threadline.scale._runner CONFIG_JSON RESULT_PATH

1. Import the target (recording any warning that the GIL was re-enabled).
2. Warm up: call the unit for ``warmup`` seconds (at least twice) and take
   its mean time.  A unit that raises or exits, here or in a worker, ends
   the run (exit status 3; the error says where and how).
3. Calibrate: ``units`` is how many units one worker does in ``duration``
   seconds.  Weak scaling gives each of p workers ``units``; strong scaling
   shares ``units`` among them.
4. For each mode (threads, processes) and worker count p, run ``rounds``
   rounds: p workers wait at a barrier, do their units, and record when they
   started and ended; a round's time is last end minus first start.
5. Write every figure and the interpreter's description to RESULT_PATH.

Progress events go to stderr as lines starting with ``PROGRESS``; anything
else the unit prints passes through.  No threadline runtime is used here:
the tool measures the user's code on plain threads and processes.

Stopping: SIGINT (sent by ``threadline scale`` to this process only; its
workers are in this process group, away from the terminal's) raises
KeyboardInterrupt here.  Worker threads see ``_stop`` between units and are
joined; worker processes are terminated.  The result then says
"interrupted" (exit status 130).  A worker thread only reads ``_stop`` (an
Event); the main thread sets it.  A round's worker threads record their
times and errors under the round's lock, after their timing ends; the main
thread reads them after joining every thread.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import queue
import sys
import sysconfig
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

from . import _target

PROGRESS = "\x1ethreadline-scale "
EXIT_TARGET = 3
EXIT_INTERRUPTED = 130

_stop = threading.Event()  # set once, on Ctrl-C: worker threads stop between units


class UnitFailed(Exception):
    """The unit of work failed.  *kind*: ``raised`` (the message is the
    traceback), ``exit`` (it raised SystemExit; *status* is the exit status)
    or ``crash`` (a worker process died without a word; *status* is its exit
    code, negative for a signal).  *where* names the step."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.where = ""


def exit_status(code: object) -> int:
    """The process exit status ``SystemExit(code)`` stands for."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


def failure(exc: BaseException) -> UnitFailed:
    """What a unit's exception says about it."""
    if isinstance(exc, SystemExit):
        return UnitFailed("exit", f"SystemExit({exc.code!r})", exit_status(exc.code))
    return UnitFailed("raised", "".join(traceback.format_exception(exc)))


def emit(event: dict[str, Any]) -> None:
    sys.__stderr__.write(PROGRESS + json.dumps(event) + "\n")  # type: ignore[union-attr]
    sys.__stderr__.flush()  # type: ignore[union-attr]


def describe_interpreter() -> dict[str, Any]:
    jit = getattr(sys, "_jit", None)
    return {
        "executable": sys.executable,
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "build": sys.version,
        "free_threaded_build": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "jit_enabled": bool(jit.is_enabled()) if jit is not None else None,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "xoptions": {str(k): str(v) for k, v in sys._xoptions.items()},
        "env_PYTHON_GIL": os.environ.get("PYTHON_GIL"),
    }


def gil_enabled() -> bool:
    probe = getattr(sys, "_is_gil_enabled", None)
    return True if probe is None else bool(probe())


def call_units(fn: Callable[[], Any], count: int) -> None:
    for _ in range(count):
        if _stop.is_set():
            return
        fn()


def warm_up(fn: Callable[[], Any], seconds: float) -> float:
    """Mean seconds per unit, over at least two calls and *seconds*."""
    calls = 0
    start = time.perf_counter()
    try:
        while calls < 2 or time.perf_counter() - start < seconds:
            fn()
            calls += 1
    except (Exception, SystemExit) as exc:
        raise failure(exc) from None
    return (time.perf_counter() - start) / calls


def shares(units: int, workers: int, scaling: str) -> list[int]:
    """How many units each worker does in one round."""
    if scaling == "weak":
        return [units] * workers
    base, extra = divmod(max(units, workers), workers)
    return [base + (1 if i < extra else 0) for i in range(workers)]


def run_threads(fn: Callable[[], Any], counts: list[int]) -> float:
    workers = len(counts)
    barrier = threading.Barrier(workers)
    spans: list[tuple[float, float]] = [(0.0, 0.0)] * workers  # guarded by done_lock
    errors: list[BaseException] = []  # guarded by done_lock
    done_lock = threading.Lock()

    def work(i: int) -> None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:  # stopped before the round began
            return
        start = time.perf_counter()
        error = None
        try:
            call_units(fn, counts[i])
        except BaseException as exc:
            error = exc
        end = time.perf_counter()
        with done_lock:
            spans[i] = (start, end)
            if error is not None:
                errors.append(error)

    threads = [threading.Thread(target=work, args=(i,), name=f"scale-{i}") for i in range(workers)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        _stop.set()
        barrier.abort()
        for thread in threads:
            if thread.ident is not None:
                thread.join()
        raise
    if errors:
        raise failure(errors[0])
    return max(end for _, end in spans) - min(start for start, _ in spans)


def _process_main(job: tuple[str, str, int, int], barrier: Any, results: Any) -> None:
    """One worker process: load the unit, then for each of *rounds* rounds
    wait at the barrier, do *count* units and report ``(round, start, end)``,
    or the error (after breaking the barrier, so no other worker waits on)."""
    spec, cwd, count, rounds = job
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn = _target.load(spec, cwd)
        fn()
    except BaseException as exc:
        _report_failure(exc, barrier, results)
        return
    for round_ in range(rounds):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:  # another worker failed
            return
        start = time.perf_counter()
        try:
            call_units(fn, count)
        except BaseException as exc:
            _report_failure(exc, barrier, results)
            return
        results.put(("ok", (round_, start, time.perf_counter())))


def _report_failure(exc: BaseException, barrier: Any, results: Any) -> None:
    barrier.abort()
    if isinstance(exc, KeyboardInterrupt):
        results.put(("interrupted", None))
        return
    failed = failure(exc)
    results.put(("error", (failed.kind, failed.message, failed.status)))


def run_processes(
    spec: str, cwd: str, counts: list[int], rounds: int, on_round: Callable[[int], None]
) -> list[float]:
    """All rounds for one worker count, on freshly started processes (their
    start-up is outside the timing); process i does ``counts[i]`` units.
    A worker that dies without a word breaks the barrier and ends the run."""
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    workers = len(counts)
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    processes: list[Any] = []
    spans: dict[int, list[tuple[float, float]]] = {r: [] for r in range(rounds)}
    times = []
    interrupted = False
    try:
        for n in counts:
            process = ctx.Process(  # type: ignore[attr-defined]
                target=_process_main, args=((spec, cwd, n, rounds), barrier, results), daemon=True
            )
            process.start()
            processes.append(process)
        for round_ in range(rounds):
            while len(spans[round_]) < workers:
                kind, value = _next_result(results, processes, barrier)
                if kind == "error":
                    raise UnitFailed(*value)
                if kind == "interrupted":  # SIGINT reached a worker
                    raise KeyboardInterrupt
                spans[value[0]].append((value[1], value[2]))
            done = spans[round_]
            times.append(max(end for _, end in done) - min(start for start, _ in done))
            on_round(round_)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        barrier.abort()
        for process in processes:
            if interrupted:
                process.terminate()
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
    return times


def _next_result(results: Any, processes: list[Any], barrier: Any) -> tuple[str, Any]:
    """The next message from the workers; an error if one died silently."""
    while True:
        try:
            return results.get(timeout=0.1)  # type: ignore[no-any-return]
        except queue.Empty:
            pass
        for process in processes:
            if process.exitcode is not None and process.exitcode != 0:
                barrier.abort()
                return "error", ("crash", f"a worker process (pid {process.pid})", process.exitcode)
        if all(process.exitcode is not None for process in processes):
            try:  # a last message may still be in flight
                return results.get(timeout=1.0)  # type: ignore[no-any-return]
            except queue.Empty:
                return "error", ("crash", "the worker processes", 0)


def measure(config: dict[str, Any], fn: Callable[[], Any]) -> dict[str, Any]:
    try:
        unit_seconds = warm_up(fn, config["warmup"])
    except UnitFailed as exc:
        exc.where = "warm-up"
        raise
    units = max(1, round(config["duration"] / unit_seconds))
    emit({"event": "calibrated", "unit_seconds": unit_seconds, "units": units})
    runs = []
    for mode in config["modes"]:
        for workers in config["workers"]:
            counts = shares(units, workers, config["scaling"])
            total = sum(counts)

            def on_round(round_: int, mode: str = mode, workers: int = workers) -> None:
                emit({"event": "round", "mode": mode, "workers": workers, "round": round_})

            try:
                if mode == "threads":
                    times = []
                    for round_ in range(config["rounds"]):
                        times.append(run_threads(fn, counts))
                        on_round(round_)
                else:
                    times = run_processes(
                        config["target"], config["cwd"], counts, config["rounds"], on_round
                    )
            except UnitFailed as exc:
                exc.where = f"{mode}, {workers} worker{'s' if workers > 1 else ''}"
                raise
            runs.append(
                {
                    "mode": mode,
                    "workers": workers,
                    "units_per_round": total,
                    "seconds": times,
                    "throughput": [total / t for t in times],
                }
            )
    return {"unit_seconds": unit_seconds, "units": units, "runs": runs}


def main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    out_path = argv[1]
    result: dict[str, Any] = {"interpreter": describe_interpreter()}
    status = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn = _target.load(config["target"], config["cwd"])
            result.update(measure(config, fn))
        except _target.TargetError as exc:
            result["error"] = {"kind": "target", "message": str(exc)}
            status = EXIT_TARGET
        except UnitFailed as exc:
            result["error"] = {
                "kind": exc.kind,
                "message": exc.message,
                "status": exc.status,
                "where": exc.where,
            }
            status = EXIT_TARGET
        except KeyboardInterrupt:
            result["error"] = {"kind": "interrupted", "message": "interrupted"}
            status = EXIT_INTERRUPTED
    result["interpreter"]["gil_enabled_at_end"] = gil_enabled()
    result["interpreter"]["gil_reenabled_by"] = _target.gil_reenabled_by(caught)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
