"""Turning the runners' raw results into a report: figures, a verdict per
interpreter (``_verdict``), a table, JSON and a plot.

The table is printed with rich only on a terminal wide enough for it;
anywhere else (a pipe, a file, a narrow terminal) it is plain text, which
is never cut short.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _maths, _verdict

SCHEMA_ID = "threadline-scale/1"
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


def analyse(raw: dict[str, Any]) -> dict[str, Any]:
    """Add summaries, speedup (and its range over the rounds), efficiency and
    Karp-Flatt to one interpreter's raw result, and its verdict."""
    results = []
    base: dict[str, list[float]] = {}
    order = ("threads", "processes")
    for run in sorted(raw["runs"], key=lambda r: (order.index(r["mode"]), r["workers"])):
        if run["workers"] == 1:
            base[run["mode"]] = run["throughput"]
        results.append({**run, "throughput_summary": _maths.summary(run["throughput"])})
    for result in results:
        if result["mode"] not in base:
            raise ValueError(f"no one-worker run for mode {result['mode']!r}")
        one = base[result["mode"]]
        s = _maths.speedup(result["throughput_summary"]["median"], _maths.summary(one)["median"])
        result["speedup"] = s
        result["speedup_range"] = list(_maths.speedup_range(result["throughput"], one))
        result["spread"] = _maths.half_spread(result["throughput"])
        result["efficiency"] = _maths.efficiency(s, result["workers"])
        result["karp_flatt"] = _maths.karp_flatt(s, result["workers"])
        result["above_ideal"] = _verdict.above_ideal(result)
    done = {
        "interpreter": raw["interpreter"],
        "unit_seconds": raw["unit_seconds"],
        "units": raw["units"],
        "results": results,
    }
    judged = _verdict.judge(done)
    done["limit"] = judged.limit
    done["verdict"] = judged.text
    return done


def build(settings: dict[str, Any], reports: list[dict[str, Any]], created: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA_ID,
        "created": created,
        "settings": settings,
        "interpreters": reports,
    }


def label(report: dict[str, Any]) -> str:
    interp = report["interpreter"]
    ft = "t" if interp["free_threaded_build"] else ""
    gil = "GIL on" if interp["gil_enabled_at_end"] else "GIL off"
    return f"{interp['implementation']} {interp['version']}{ft} ({gil})"


def rows(report: dict[str, Any]) -> list[list[str]]:
    out = []
    for r in report["results"]:
        mark = " *" if r["above_ideal"] else ""
        kf = "-" if r["karp_flatt"] is None else f"{r['karp_flatt']:.2f}"
        out.append(
            [
                r["mode"],
                str(r["workers"]),
                f"{r['throughput_summary']['median']:,.1f}",
                f"±{r['spread']:.0%}",
                f"{r['speedup']:.2f}x",
                f"{r['efficiency']:.0%}{mark}",
                kf,
            ]
        )
    return out


HEADERS = ["mode", "workers", "units/s", "spread", "speedup", "efficiency", "Karp-Flatt"]
ABOVE_IDEAL_NOTE = "* more than ideal, which cannot be right: the rounds were disturbed"


def notes(report: dict[str, Any]) -> list[str]:
    """What to say under a report's table, before its verdict."""
    return [ABOVE_IDEAL_NOTE] if any(r["above_ideal"] for r in report["results"]) else []


def heading(document: dict[str, Any]) -> str:
    settings = document["settings"]
    return (
        f"threadline scale {settings['target']} ({settings['scaling']} scaling, "
        f"{settings['rounds']} rounds of {settings['duration']:g} s per point)"
    )


def plain_table(document: dict[str, Any]) -> str:
    """The report as plain text, never cut short: a table and verdict per
    interpreter."""
    lines = [heading(document)]
    for report in document["interpreters"]:
        table = [HEADERS, *rows(report)]
        widths = [max(len(row[i]) for row in table) for i in range(len(HEADERS))]
        lines += ["", label(report) + f" — {report['interpreter']['executable']}"]
        for n, row in enumerate(table):
            cells = [
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  ".join(cells).rstrip())
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines += notes(report)
        lines.append("verdict: " + report["verdict"])
    lines += compare(document)
    return "\n".join(lines) + "\n"


def compare(document: dict[str, Any]) -> list[str]:
    """The single-thread cost across interpreters, when there are several."""
    reports = document["interpreters"]
    if len(reports) < 2:
        return []
    ones = []
    for report in reports:
        one = next(
            (r for r in report["results"] if r["mode"] == "threads" and r["workers"] == 1), None
        )
        if one is not None:
            ones.append((label(report), one["throughput_summary"]["median"]))
    if len(ones) < 2:
        return []
    first_label, first = ones[0]
    out = ["", f"one thread, relative to {first_label}:"]
    out += [f"  {name}: {rate / first:.2f}x" for name, rate in ones]
    return out


def print_rich(document: dict[str, Any]) -> bool:
    """Print the report with rich when stdout is a terminal wide enough for
    every table; False (nothing printed) otherwise, or without rich."""
    try:
        from rich.console import Console  # noqa: PLC0415 - an optional extra
        from rich.measure import Measurement  # noqa: PLC0415
        from rich.table import Table  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415
    except ImportError:
        return False
    console = Console()
    if not console.is_terminal:
        return False
    tables = []
    for report in document["interpreters"]:
        table = Table(title=f"{label(report)} — {report['interpreter']['executable']}")
        for i, header in enumerate(HEADERS):
            table.add_column(header, justify="left" if i == 0 else "right", no_wrap=True)
        for row in rows(report):
            table.add_row(*row)
        unbounded = console.options.update(max_width=1_000_000)
        if Measurement.get(console, unbounded, table).maximum > console.width:
            return False  # rich would cut the figures short: plain text wraps instead
        tables.append(table)
    console.print(heading(document), markup=False, highlight=False)
    for report, table in zip(document["interpreters"], tables, strict=True):
        console.print(table)
        for line in notes(report):
            console.print(line, markup=False, highlight=False)
        console.print(Text.assemble(("verdict: ", "bold"), report["verdict"]))
    for line in compare(document):
        console.print(line, markup=False, highlight=False)
    return True


def stage(path: str, write: Callable[[str], None]) -> str:
    """Write through *write* into a temporary file beside *path* (with the
    permissions a new file would get) and return its name; ``commit``
    renames it.  A failure leaves nothing behind."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".threadline-", suffix=Path(path).suffix)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def commit(staged: list[tuple[str, str]]) -> None:
    """Rename each staged temporary file to its final name."""
    for tmp, path in staged:
        os.replace(tmp, path)


def discard(staged: list[tuple[str, str]]) -> None:
    for tmp, _ in staged:
        if os.path.exists(tmp):
            os.unlink(tmp)


def json_writer(document: dict[str, Any]) -> Callable[[str], None]:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=2)
            f.write("\n")

    return write


def text_writer(text: str) -> Callable[[str], None]:
    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    return write


def plot_writer(document: dict[str, Any]) -> Callable[[str], None]:
    """Speedup against workers, per interpreter and mode, with the rounds'
    range as error bars, the ideal and the machine's CPU count."""

    def write(tmp: str) -> None:
        import matplotlib  # noqa: PLC0415 - an optional extra

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415

        fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
        try:
            _draw(ax, document)
            fig.tight_layout()
            fig.savefig(tmp, format="png")
        finally:
            plt.close(fig)

    return write


def _draw(ax: Any, document: dict[str, Any]) -> None:
    reports = document["interpreters"]
    top = max(r["workers"] for report in reports for r in report["results"])
    ticks = sorted({r["workers"] for report in reports for r in report["results"]})
    curves = [
        (report, mode, [r for r in report["results"] if r["mode"] == mode])
        for report in reports
        for mode in ("threads", "processes")
    ]
    curves = [curve for curve in curves if curve[2]]
    dodge = 0.012 * (top - 1 + 2)  # curves side by side, so their bars do not hide each other
    for n, (report, mode, runs) in enumerate(curves):
        shift = (n - (len(curves) - 1) / 2) * dodge
        speedups = [r["speedup"] for r in runs]
        ax.errorbar(
            [r["workers"] + shift for r in runs],
            speedups,
            yerr=[
                [s - r["speedup_range"][0] for s, r in zip(speedups, runs, strict=True)],
                [r["speedup_range"][1] - s for s, r in zip(speedups, runs, strict=True)],
            ],
            marker="o" if mode == "threads" else "s",
            linestyle="-" if mode == "threads" else "--",
            color=f"C{n}",
            capsize=4,
            label=f"{label(report)}, {mode}",
        )
    ax.plot([1, top], [1, top], ":", color="grey", label="ideal")
    cpus = sorted({report["interpreter"]["cpus"] for report in reports} - {None})
    for count in cpus:
        if count <= top:
            ax.axvline(count, color="black", linewidth=0.8, alpha=0.5)
            ax.annotate(
                f" {count} CPU{'s' if count > 1 else ''}",
                xy=(count, 0),
                xycoords=("data", "axes fraction"),
                xytext=(2, 4),
                textcoords="offset points",
                ha="left",
                va="bottom",
                fontsize="small",
            )
    margin = 0.1 + 0.05 * (top - 1)
    ax.set_xticks(ticks)
    ax.set_xlim(1 - margin, top + margin)
    ax.set_ylim(
        bottom=0, top=max(top, *(r["speedup_range"][1] for _, _, rs in curves for r in rs)) * 1.08
    )
    ax.set_xlabel("workers")
    ax.set_ylabel("speedup over one worker")
    settings = document["settings"]
    beyond = [c for c in cpus if c > top]
    machine = f"; the machine has {beyond[0]} CPUs" if beyond else ""
    ax.set_title(
        f"{settings['target']} ({settings['scaling']} scaling{machine})\n"
        f"bars: the range of {settings['rounds']} rounds",
        fontsize="medium",
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
