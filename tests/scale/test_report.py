"""Verdicts, tables and target loading, on made-up results (both GIL
paths, free-threaded builds, re-enabled GILs)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from threadline.scale import _report, _target


def raw(threads: list[float], processes: list[float], **interp: Any) -> dict[str, Any]:
    """A runner's result with the given median throughputs for 1, 2, ... workers."""
    interpreter = {
        "executable": "/usr/bin/python3",
        "version": "3.14.0",
        "implementation": "CPython",
        "free_threaded_build": False,
        "gil_enabled_at_end": True,
        "gil_reenabled_by": [],
        "jit_enabled": None,
        "cpus": 4,
        **interp,
    }
    runs = []
    for mode, rates in (("threads", threads), ("processes", processes)):
        for i, rate in enumerate(rates):
            runs.append(
                {
                    "mode": mode,
                    "workers": i + 1,
                    "units_per_round": 100,
                    "seconds": [100 / rate] * 3,
                    "throughput": [rate * 0.95, rate, rate * 1.05],
                }
            )
    return {"interpreter": interpreter, "unit_seconds": 0.001, "units": 100, "runs": runs}


def test_figures() -> None:
    report = _report.analyse(raw([100, 190, 270, 320], [100, 195, 290, 380]))
    threads = [r for r in report["results"] if r["mode"] == "threads"]
    assert [r["speedup"] for r in threads] == pytest.approx([1.0, 1.9, 2.7, 3.2])
    assert threads[3]["efficiency"] == pytest.approx(0.8)
    assert threads[3]["karp_flatt"] == pytest.approx((1 / 3.2 - 1 / 4) / (1 - 1 / 4))
    assert threads[0]["karp_flatt"] is None
    assert threads[1]["throughput_summary"]["median"] == 190


def test_verdict_gil_on_threads_flat() -> None:
    report = _report.analyse(raw([100, 100, 99, 98], [100, 196, 290, 385]))
    assert report["verdict"] == (
        "threads scale to 0.98x on 4 workers; processes 3.85x; "
        "the GIL is on, so threads will not scale here — try a free-threaded build"
    )


def test_verdict_gil_on_but_work_releases_it() -> None:
    report = _report.analyse(raw([100, 198, 290, 380], [100, 196, 290, 385]))
    assert "releases it or waits, so threads scale anyway" in report["verdict"]


def test_verdict_gil_off_scales() -> None:
    report = _report.analyse(
        raw(
            [100, 195, 280, 370],
            [100, 196, 290, 385],
            free_threaded_build=True,
            gil_enabled_at_end=False,
        )
    )
    assert report["verdict"].startswith("threads scale to 3.70x on 4 workers; processes 3.85x")
    assert report["verdict"].endswith("the GIL is off and free-threading makes this workload scale")


def test_verdict_gil_off_but_serial() -> None:
    report = _report.analyse(
        raw(
            [100, 110, 115, 118],
            [100, 196, 290, 385],
            free_threaded_build=True,
            gil_enabled_at_end=False,
        )
    )
    assert (
        "the GIL is off, yet threads do not scale: about 80% of the work is serial"
        in report["verdict"]
    )


def test_verdict_free_threaded_build_with_gil_reenabled() -> None:
    report = _report.analyse(
        raw(
            [100, 100],
            [100, 190],
            free_threaded_build=True,
            gil_enabled_at_end=True,
            gil_reenabled_by=["legacy_ext"],
            cpus=2,
        )
    )
    assert (
        "the GIL is on in this free-threaded build (importing legacy_ext re-enabled it"
        in (report["verdict"])
    )


def test_verdict_processes_only_and_more_workers_than_cpus() -> None:
    report = _report.analyse(raw([], [100, 150, 160], cpus=2))
    assert report["verdict"].startswith("processes scale to 1.60x on 3 workers (2 CPUs)")


def test_plain_table_and_comparison() -> None:
    one = _report.analyse(raw([100, 100], [100, 190], cpus=2))
    two = _report.analyse(
        raw(
            [80, 158],
            [80, 150],
            version="3.14.0",
            free_threaded_build=True,
            gil_enabled_at_end=False,
            cpus=2,
        )
    )
    settings = {"target": "m:f", "scaling": "weak"}
    text = _report.plain_table(_report.build(settings, [one, two], "now"))
    assert "CPython 3.14.0 (GIL on)" in text
    assert "CPython 3.14.0t (GIL off)" in text
    assert "verdict: threads scale to 1.00x" in text
    assert "one thread, relative to CPython 3.14.0 (GIL on):" in text
    assert "CPython 3.14.0t (GIL off): 0.80x" in text
    header = next(line for line in text.splitlines() if line.startswith("mode"))
    assert header.split() == [
        "mode",
        "workers",
        "units/s",
        "spread",
        "speedup",
        "efficiency",
        "Karp-Flatt",
    ]


def test_gil_reenabled_by_parses_cpythons_warning() -> None:
    message = (
        "The global interpreter lock (GIL) has been enabled to load module 'legacy_ext', "
        "which has not declared that it can run safely without the GIL. To override this "
        "behavior and keep the GIL disabled (at your own risk), run with PYTHON_GIL=0 or -Xgil=0."
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn(message, RuntimeWarning, stacklevel=1)
        warnings.warn(message, RuntimeWarning, stacklevel=1)
        warnings.warn("unrelated", RuntimeWarning, stacklevel=1)
    assert _target.gil_reenabled_by(caught) == ["legacy_ext"]


def test_load_targets(tmp_path: Path) -> None:
    (tmp_path / "unit.py").write_text(
        "def work():\n    return 42\n"
        "class K:\n    @staticmethod\n    def m():\n        return 7\n"
        "value = 3\n"
    )
    assert _target.load("unit.py:work", str(tmp_path))() == 42
    assert _target.load(f"{tmp_path / 'unit.py'}:K.m", "/")() == 7
    assert _target.load("threadline.scale.workloads:cpu", str(tmp_path)) is not None
    with pytest.raises(_target.TargetError, match="is not callable: it is int 3"):
        _target.load("unit.py:value", str(tmp_path))
    with pytest.raises(_target.TargetError, match="has no attribute 'nope'"):
        _target.load("unit.py:nope", str(tmp_path))
    with pytest.raises(_target.TargetError, match="no such file"):
        _target.load("missing.py:work", str(tmp_path))
    with pytest.raises(_target.TargetError, match="cannot import 'no_such_module_xyz'"):
        _target.load("no_such_module_xyz:work", str(tmp_path))
    with pytest.raises(_target.TargetError, match="TARGET must be MODULE:FUNCTION"):
        _target.split("just_a_module")
