"""The verdict on made-up measurements: every combination of how threads
and processes scale, with the GIL on, off, or re-enabled in a free-threaded
build, and the noise that makes a verdict impossible."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from threadline.scale import _report, _verdict

from .synthetic import free_threaded, raw

# Median throughputs for 1..4 workers on 4 CPUs, and how each reads.
SHAPES: dict[str, list[float]] = {
    "scales": [100, 195, 285, 370],  # 3.7x
    "flat": [100, 100, 99, 98],  # 0.98x
    "noisy": [100, 140, 200, 280],  # 2.8x = 70% of ideal, and the rounds spread 5%
    "absent": [],
}
GIL_STATES: dict[str, dict[str, Any]] = {
    "gil": {},
    "free-threaded": free_threaded(),
    "re-enabled": free_threaded(gil_enabled_at_end=True, gil_reenabled_by=["legacy_ext"]),
}


def judge(threads: list[float], processes: list[float], **kw: Any) -> dict[str, Any]:
    return _report.analyse(raw(threads, processes, **kw))


def expected_limit(threads: str, processes: str, gil_on: bool) -> str:
    """The decision table of the verdict module's docstring, written out."""
    if "noisy" in (threads, processes):
        return "noise"
    if threads == "absent":
        return "none" if processes == "scales" else "shared_resource"
    if threads == "scales":
        return "none"
    if processes == "absent":
        return "unknown"
    if processes == "flat":
        return "shared_resource"
    return "gil" if gil_on else "threads_contend"


CASES = [
    (t, p, state)
    for t, p in itertools.product(SHAPES, SHAPES)
    if (t, p) != ("absent", "absent")
    for state in GIL_STATES
]


@pytest.mark.parametrize(("threads", "processes", "state"), CASES)
def test_every_combination(threads: str, processes: str, state: str) -> None:
    report = judge(SHAPES[threads], SHAPES[processes], **GIL_STATES[state])
    gil_on = state != "free-threaded"
    limit = expected_limit(threads, processes, gil_on)
    assert report["limit"] == limit, report["verdict"]
    text = report["verdict"]
    # only a GIL-bound workload on a GIL build is sent to a free-threaded build
    assert ("try a free-threaded build" in text) == (limit == "gil" and state == "gil"), text
    # only where neither mode scales is no build said to help
    assert ("no Python build will help" in text) == (limit == "shared_resource"), text
    assert ("raise --duration" in text) == (limit == "noise"), text
    if state == "re-enabled" and limit not in ("noise", "shared_resource"):
        assert "importing legacy_ext re-enabled it; PYTHON_GIL=0 forces it off" in text
    if limit != "noise" and gil_on and threads == "scales":
        assert "threads scale even with the GIL on" in text
    if state == "free-threaded" and threads == "scales" and processes != "noisy":
        assert "the GIL is off and threads scale" in text
    first = "threads" if threads != "absent" else "processes"
    assert text.startswith(f"{first} "), text


@pytest.mark.parametrize(
    ("threads", "processes", "interp", "limit", "verdict"),
    [
        pytest.param(
            [100, 73],
            [100, 89],
            {"cpus": 2},
            "shared_resource",
            "threads 0.73x, processes 0.89x on 2 workers: neither threads nor processes "
            "scale: a resource they all share limits the work (memory bandwidth, a disk or "
            "the network, a lock across processes, or other programs keeping the CPUs busy); "
            "no Python build will help",
            # Regression (issue 15): gil_releasing on a busy machine was sent
            # to a free-threaded build though processes did not scale either.
            id="gil_releasing-issue-15",
        ),
        pytest.param(
            [100, 100, 99, 98],
            [100, 196, 290, 385],
            {},
            "gil",
            "threads 0.98x, processes 3.85x on 4 workers: the GIL, or a lock the threads "
            "share, holds threads back (processes, which share neither, scale): try a "
            "free-threaded build (--python python3.14t); if threads still do not scale "
            "there, a lock or shared object is the limit",
            id="gil-bound",
        ),
        pytest.param(
            [100, 110, 115, 118],
            [100, 196, 290, 385],
            free_threaded(),
            "threads_contend",
            "threads 1.18x, processes 3.85x on 4 workers: the GIL is off, yet threads do not "
            "scale while processes do: threads contend for something they share in the "
            "process (a lock, a shared object or its reference count; about 80% of it is "
            "serial); no build will help, sharing less will",
            id="free-threaded-lock-bound",
        ),
        pytest.param(
            [100, 80],
            [100, 190],
            free_threaded(cpus=2),
            "threads_contend",
            "more workers made it slower",
            id="free-threaded-slower",
        ),
        pytest.param(
            [100, 195, 280, 370],
            [100, 196, 290, 385],
            free_threaded(),
            "none",
            "threads 3.70x, processes 3.85x on 4 workers: the GIL is off and threads scale: "
            "free-threading pays off for this work",
            id="free-threaded-scales",
        ),
        pytest.param(
            [],
            [100, 150, 160],
            {"cpus": 2},
            "none",
            "processes 1.60x on 3 workers (2 CPUs): processes scale; measure threads too",
            id="processes-only-beyond-the-cpus",
        ),
        pytest.param(
            [100, 180],
            [100, 180],
            {"cpus": 8},
            "none",
            "threads 1.80x, processes 1.80x on 2 workers (8 CPUs): threads scale even with "
            "the GIL on",
            id="fewer-workers-than-cpus",
        ),
        pytest.param(
            [100],
            [100],
            {},
            "unknown",
            "threads 1.00x, processes 1.00x on 1 worker (4 CPUs): only one worker was "
            "measured, so there is nothing to compare; measure more (--workers 1,2,4)",
            id="one-worker-count",
        ),
        pytest.param(
            [100, 100],
            [],
            {"cpus": 1},
            "unknown",
            "threads 1.00x on 2 workers (1 CPU): this machine has one CPU",
            id="one-cpu",
        ),
        pytest.param(
            [100, 190],
            [100, 230],
            {"cpus": 2},
            "noise",
            "threads 1.90x, processes 2.30x on 2 workers: too noisy to tell what limits the "
            "work: processes on 2 workers ran at 115% efficiency, more than ideal, which "
            "cannot be right; raise --duration (longer rounds) or --rounds (a steadier "
            "median) and measure again",
            id="above-ideal",
        ),
        pytest.param(
            [100, 200, 330, 400],
            [100, 196, 290, 385],
            {},
            "noise",
            "threads on 3 workers ran at 110% efficiency",
            id="above-ideal-between",
        ),
        pytest.param(
            [100, 140],
            [100, 100],
            {"cpus": 2, "load_average": 24.2},
            "noise",
            "threads 1.40x, processes 1.00x on 2 workers: too noisy to tell what limits the "
            "work (the load average was 24.2 on 2 CPUs as the run began): the rounds put "
            "threads between 1.27x and 1.55x, on both sides of 1.40x (70% of ideal)",
            id="straddles-on-a-busy-machine",
        ),
    ],
)
def test_verdicts(
    threads: list[float], processes: list[float], interp: dict[str, Any], limit: str, verdict: str
) -> None:
    report = judge(threads, processes, **interp)
    assert report["limit"] == limit
    if verdict.endswith(": "):
        assert report["verdict"].startswith(verdict)
    else:
        assert verdict in report["verdict"]


def test_a_wide_spread_that_cannot_change_the_answer_is_no_noise() -> None:
    # threads flat and processes at ideal, with rounds 30% apart on either side
    report = judge([100, 100], [100, 200], spread=0.15, cpus=2)
    assert report["limit"] == "gil"
    report = judge([100, 100], [100, 200], spread=0.25, cpus=2)
    assert report["limit"] == "noise"
    assert "processes between 1.20x and 3.33x" in report["verdict"]


def test_the_busy_note_needs_half_the_cpus_busy() -> None:
    quiet = judge([100, 100], [100, 100], cpus=2, load_average=0.9)
    busy = judge([100, 100], [100, 100], cpus=2, load_average=1.0)
    unknown = judge([100, 100], [100, 100], cpus=2, load_average=None)
    assert "load average" not in quiet["verdict"]
    assert busy["verdict"].endswith(
        "other programs keeping the CPUs busy); the load average was 1.0 on 2 CPUs as the "
        "run began; no Python build will help"
    )
    assert "load average" not in unknown["verdict"]


def test_above_ideal_flags_each_point() -> None:
    report = judge([100, 200, 330, 400], [100, 196, 290, 385])
    flagged = [(r["mode"], r["workers"]) for r in report["results"] if r["above_ideal"]]
    assert flagged == [("threads", 3)]
    assert _verdict.above_ideal({"efficiency": 1.005}) is False
    assert _verdict.above_ideal({"efficiency": 1.006}) is True


def test_no_results_is_an_error() -> None:
    report = {"interpreter": {"cpus": 2}, "results": []}
    with pytest.raises(ValueError, match="the report has no results"):
        _verdict.judge(report)
