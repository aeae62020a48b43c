"""Figures, tables and target loading, on made-up results (verdicts are
in test_verdict.py)."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from threadline.scale import _report, _target

from .synthetic import free_threaded, raw

SETTINGS = {"target": "m:f", "scaling": "weak", "rounds": 3, "duration": 1.0}


def test_figures() -> None:
    report = _report.analyse(raw([100, 190, 270, 320], [100, 195, 290, 380]))
    threads = [r for r in report["results"] if r["mode"] == "threads"]
    assert [r["speedup"] for r in threads] == pytest.approx([1.0, 1.9, 2.7, 3.2])
    assert threads[3]["efficiency"] == pytest.approx(0.8)
    assert threads[3]["karp_flatt"] == pytest.approx((1 / 3.2 - 1 / 4) / (1 - 1 / 4))
    assert threads[0]["karp_flatt"] is None
    assert threads[1]["throughput_summary"]["median"] == 190
    # rounds at 0.95, 1 and 1.05 times the median
    assert threads[1]["spread"] == pytest.approx(0.05)
    assert threads[1]["speedup_range"] == pytest.approx([190 * 0.95 / 105, 190 * 1.05 / 95])
    assert threads[0]["speedup_range"] == pytest.approx([95 / 105, 105 / 95])
    assert not any(r["above_ideal"] for r in report["results"])


def test_plain_table_and_comparison() -> None:
    one = _report.analyse(raw([100, 100], [100, 190], cpus=2))
    two = _report.analyse(raw([80, 158], [80, 150], **free_threaded(cpus=2)))
    text = _report.plain_table(_report.build(SETTINGS, [one, two], "now"))
    assert text.startswith("threadline scale m:f (weak scaling, 3 rounds of 1 s per point)\n")
    assert "CPython 3.14.0 (GIL on)" in text
    assert "CPython 3.14.0t (GIL off)" in text
    assert f"verdict: {one['verdict']}\n" in text
    assert f"verdict: {two['verdict']}\n" in text
    assert "one thread, relative to CPython 3.14.0 (GIL on):" in text
    assert "CPython 3.14.0t (GIL off): 0.80x" in text
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("mode"))
    assert header.split() == _report.HEADERS
    assert lines[lines.index(header) + 2].split() == [
        "threads",
        "1",
        "100.0",
        "±5%",
        "1.00x",
        "100%",
        "-",
    ]
    assert _report.ABOVE_IDEAL_NOTE not in text


def test_above_ideal_is_marked_in_the_table() -> None:
    report = _report.analyse(raw([100, 200, 330, 400], [100, 196, 290, 385]))
    text = _report.plain_table(_report.build(SETTINGS, [report], "now"))
    row = next(line for line in text.splitlines() if line.startswith("threads          3"))
    assert row.split()[-3:] == ["110%", "*", "-0.05"]
    assert f"{_report.ABOVE_IDEAL_NOTE}\nverdict: " in text
    assert report["limit"] == "noise"


def big_report() -> dict[str, Any]:
    """Rates in the millions, an executable with a long path."""
    report = _report.analyse(
        raw(
            [1_218_074.4, 2_400_000.25],
            [1_100_000.0, 2_150_000.5],
            cpus=2,
            executable="/opt/a/rather/long/path/to/some/virtual/environment/bin/python3",
        )
    )
    return _report.build(SETTINGS, [report], "now")


def figures_of(document: dict[str, Any]) -> list[str]:
    return [cell for row in _report.rows(document["interpreters"][0]) for cell in row]


def test_the_plain_table_is_never_cut_short() -> None:
    document = big_report()
    text = _report.plain_table(document)
    assert "…" not in text
    for cell in figures_of(document):
        assert cell in text
    assert "1,218,074.4" in text
    assert document["interpreters"][0]["verdict"] in text


class _Recorder:
    """What rich would print, on a terminal of a given width."""

    def __init__(self, width: int, terminal: bool) -> None:
        import rich.console  # noqa: PLC0415

        self.out = io.StringIO()
        self.console_class = rich.console.Console
        self.width = width
        self.terminal = terminal

    def __call__(self, **kwargs: Any) -> Any:
        return self.console_class(
            file=self.out,
            width=self.width,
            force_terminal=self.terminal,
            color_system=None,
            **kwargs,
        )


@pytest.mark.parametrize(
    ("width", "terminal", "rich"), [(200, True, True), (60, True, False), (200, False, False)]
)
def test_rich_only_on_a_terminal_wide_enough(
    width: int, terminal: bool, rich: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = pytest.importorskip("rich.console")
    recorder = _Recorder(width, terminal)
    monkeypatch.setattr(console, "Console", recorder)
    document = big_report()
    assert _report.print_rich(document) is rich
    printed = recorder.out.getvalue()
    if not rich:
        assert printed == ""  # the caller prints the plain table instead
        return
    assert "…" not in printed
    for cell in figures_of(document):
        assert cell in printed
    assert "verdict: " + document["interpreters"][0]["verdict"] in " ".join(printed.split())


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
        "def needs_arg(x):\n    return x\n"
        "def defaults(x=1, *rest, **kw):\n    return x\n"
    )
    assert _target.load("unit.py:work", str(tmp_path))() == 42
    assert _target.load("unit.py:defaults", str(tmp_path))() == 1
    with pytest.raises(_target.TargetError, match=r"must be callable with no arguments.*\(x\)"):
        _target.load("unit.py:needs_arg", str(tmp_path))
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


def test_the_plot_marks_the_cpus_and_the_rounds() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    one = _report.analyse(raw([100, 100, 99, 98, 97, 96], [100, 196, 290, 385, 390, 395]))
    two = _report.analyse(raw([80, 158, 230, 300, 300, 300], [], **free_threaded()))
    fig, ax = plt.subplots()
    try:
        _report._draw(ax, _report.build(SETTINGS, [one, two], "now"))
        ideal = next(line for line in ax.lines if line.get_label() == "ideal")
        assert list(ideal.get_xdata()) == [1, 6]  # stops at the largest worker count
        cpu_lines = [line for line in ax.lines if list(line.get_xdata()) == [4, 4]]
        assert len(cpu_lines) == 1
        assert "4 CPUs" in [text.get_text().strip() for text in ax.texts]
        assert len(ax.containers) == 3  # one curve with error bars per interpreter and mode
        bars = ax.containers[0].lines[2][0].get_segments()  # threads on the GIL build
        assert len(bars) == 6
        low, high = bars[1][:, 1]
        assert (low, high) == pytest.approx(tuple(one["results"][1]["speedup_range"]))
        assert ax.get_xlim()[1] < 7
    finally:
        plt.close(fig)


def test_the_plot_names_cpus_beyond_the_workers() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    report = _report.analyse(raw([100, 190], [100, 195], cpus=64))
    fig, ax = plt.subplots()
    try:
        _report._draw(ax, _report.build(SETTINGS, [report], "now"))
        assert "the machine has 64 CPUs" in ax.get_title()
        assert ax.get_xlim()[1] < 3
    finally:
        plt.close(fig)


def test_analysed_documents_match_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(_report.SCHEMA_PATH.read_text(encoding="utf-8"))
    one = _report.analyse(raw([100, 200, 330, 400], [100, 196, 290, 385]))
    two = _report.analyse(raw([100, 100], [], **free_threaded(load_average=None, cpus=None)))
    settings = {**SETTINGS, "workers": [1, 2], "modes": ["threads"], "warmup": 0.1, "cwd": "/"}
    document = _report.build(settings, [one, two], "now")
    jsonschema.validate(json.loads(json.dumps(document)), schema)
    assert [one["limit"], two["limit"]] == ["noise", "unknown"]
