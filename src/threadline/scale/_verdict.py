"""What limits a workload, from one interpreter's analysed results.

Each measured mode is judged at its largest worker count p against the
ideal speedup min(p, CPUs): it *scales* when its speedup reaches
``SCALES_AT`` of the ideal.  The rounds give that speedup a range (see
``_maths.speedup_range``); when the range straddles the threshold, or any
point ran above 100% efficiency (a negative Karp-Flatt fraction, which
cannot be right), the verdict is "noise", with the advice to measure
longer.  One worker count, or one CPU, gives "unknown".  Otherwise:

    threads  processes  GIL on (or re-enabled)       GIL off
    scale    any        none                          none
    no       scale      gil: try a free-threaded      threads_contend: a lock or
                        build (or name the module     object the threads share;
                        that re-enabled the GIL)      no build helps
    no       no         shared_resource: no build helps (either GIL state)
    no       -          unknown: measure processes too
    -        scale      none
    -        no         shared_resource
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SCALES_AT = 0.7  # of the ideal speedup
ABOVE_IDEAL = 1.005  # efficiency above this (shown as 101% or more) cannot be right

BUSY_LOAD = 0.5  # a load average above this many per CPU: other programs were running
ADVICE = "raise --duration (longer rounds) or --rounds (a steadier median) and measure again"


@dataclass(frozen=True)
class Verdict:
    limit: str  # none, gil, threads_contend, shared_resource, noise, unknown
    text: str


@dataclass(frozen=True)
class _Mode:
    name: str
    workers: int
    speedup: float
    low: float
    high: float
    ideal: float
    karp_flatt: float | None

    @property
    def scales(self) -> bool | None:
        """True or False, or None when the rounds' range straddles the threshold."""
        threshold = SCALES_AT * self.ideal
        if self.low >= threshold:
            return True
        if self.high < threshold:
            return False
        return None


def above_ideal(result: dict[str, Any]) -> bool:
    return bool(result["efficiency"] > ABOVE_IDEAL)


def _mode(report: dict[str, Any], name: str) -> _Mode | None:
    runs = [r for r in report["results"] if r["mode"] == name]
    if not runs:
        return None
    top = max(runs, key=lambda r: r["workers"])
    cpus = report["interpreter"].get("cpus") or top["workers"]
    low, high = top["speedup_range"]
    return _Mode(
        name=name,
        workers=top["workers"],
        speedup=top["speedup"],
        low=low,
        high=high,
        ideal=min(top["workers"], cpus),
        karp_flatt=top["karp_flatt"],
    )


def _figures(report: dict[str, Any], modes: list[_Mode]) -> str:
    """``threads 0.98x, processes 1.85x on 2 workers``, with the CPU count
    when it differs from the worker count."""
    cpus = report["interpreter"].get("cpus")
    speedups = ", ".join(f"{m.name} {m.speedup:.2f}x" for m in modes)
    workers = max(m.workers for m in modes)
    where = f"{workers} worker" + ("s" if workers > 1 else "")
    if cpus is not None and cpus != workers:
        where += f" ({cpus} CPU{'s' if cpus > 1 else ''})"
    return f"{speedups} on {where}"


def _serial(karp_flatt: float | None) -> str:
    if karp_flatt is None:
        return "one worker"
    if karp_flatt >= 1:
        return "more workers made it slower"
    return f"about {karp_flatt:.0%} of it is serial"


def _busy(interp: dict[str, Any]) -> str:
    """A note when other programs kept at least half the CPUs busy."""
    load, cpus = interp.get("load_average"), interp.get("cpus")
    if load is None or cpus is None or load < BUSY_LOAD * cpus:
        return ""
    return f"the load average was {load:.1f} on {cpus} CPUs as the run began"


def judge(report: dict[str, Any]) -> Verdict:
    """The verdict on one interpreter's analysed report."""
    threads, processes = _mode(report, "threads"), _mode(report, "processes")
    modes = [m for m in (threads, processes) if m is not None]
    if not modes:
        raise ValueError("the report has no results")
    figures = _figures(report, modes)

    def say(limit: str, text: str) -> Verdict:
        return Verdict(limit, f"{figures}: {text}")

    cpus = report["interpreter"].get("cpus")
    if max(m.workers for m in modes) == 1:
        return say(
            "unknown",
            "only one worker was measured, so there is nothing to compare; "
            "measure more (--workers 1,2,4)",
        )
    if cpus == 1:
        return say(
            "unknown",
            "this machine has one CPU, so workers cannot run in parallel here; "
            "measure on a machine with more",
        )
    interp = report["interpreter"]
    busy = _busy(interp)
    noisy = "too noisy to tell what limits the work" + (f" ({busy})" if busy else "")
    impossible = [r for r in report["results"] if above_ideal(r)]
    if impossible:
        worst = max(impossible, key=lambda r: r["efficiency"])
        return say(
            "noise",
            f"{noisy}: {worst['mode']} on "
            f"{worst['workers']} workers ran at {worst['efficiency']:.0%} efficiency, "
            f"more than ideal, which cannot be right; {ADVICE}",
        )
    unclear = [m for m in modes if m.scales is None]
    if unclear:
        ranges = " and ".join(f"{m.name} between {m.low:.2f}x and {m.high:.2f}x" for m in unclear)
        return say(
            "noise",
            f"{noisy}: the rounds put {ranges}, on both sides of "
            f"{SCALES_AT * unclear[0].ideal:.2f}x ({SCALES_AT:.0%} of ideal); {ADVICE}",
        )
    gil = interp["gil_enabled_at_end"]
    reenabled = ""
    if gil and interp["free_threaded_build"]:
        mods = interp.get("gil_reenabled_by") or []
        cause = f"importing {', '.join(mods)} re-enabled it" if mods else "it was enabled"
        reenabled = (
            f"; the GIL was on in this free-threaded build ({cause}; PYTHON_GIL=0 forces it off)"
        )
    shared = (
        "a resource they all share limits the work (memory bandwidth, a disk or "
        "the network, a lock across processes, or other programs keeping the CPUs "
        f"busy){'; ' + busy if busy else ''}; no Python build will help"
    )
    if threads is None:
        assert processes is not None
        if processes.scales:
            return say(
                "none",
                "processes scale; measure threads too (--mode threads,processes) "
                "to see whether threads would" + reenabled,
            )
        return say("shared_resource", f"processes do not scale: {shared}")
    if threads.scales:
        why = (
            "threads scale even with the GIL on: the work releases it (C code, I/O) or waits"
            if gil
            else "the GIL is off and threads scale: free-threading pays off for this work"
        )
        if processes is not None and not processes.scales:
            why += "; processes do not (something they share across processes limits them)"
        return say("none", why + reenabled)
    serial = _serial(threads.karp_flatt)
    if processes is None:
        other = "the GIL" if gil else "contention between threads"
        return say(
            "unknown",
            f"threads do not scale ({serial}); measure processes too (--mode "
            f"threads,processes) to tell {other} from a resource the whole machine shares"
            + reenabled,
        )
    if not processes.scales:
        return say("shared_resource", f"neither threads nor processes scale: {shared}")
    if not gil:
        return say(
            "threads_contend",
            "the GIL is off, yet threads do not scale while processes do: threads "
            "contend for something they share in the process (a lock, a shared object "
            f"or its reference count; {serial}); no build will help, sharing less will",
        )
    if reenabled:
        return say("gil", "the GIL holds threads back (processes scale)" + reenabled)
    return say(
        "gil",
        "the GIL, or a lock the threads share, holds threads back (processes, which "
        "share neither, scale): try a free-threaded build (--python python3.14t); "
        "if threads still do not scale there, a lock or shared object is the limit",
    )
