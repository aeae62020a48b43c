"""Turning the runners' raw results into a report: figures, a verdict per
interpreter, a table, JSON and a plot."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _maths

SCHEMA_ID = "threadline-scale/1"
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


def analyse(raw: dict[str, Any]) -> dict[str, Any]:
    """Add summaries, speedup, efficiency and Karp-Flatt to one
    interpreter's raw result, and its verdict."""
    results = []
    base: dict[str, float] = {}
    order = ("threads", "processes")
    for run in sorted(raw["runs"], key=lambda r: (order.index(r["mode"]), r["workers"])):
        stats = _maths.summary(run["throughput"])
        if run["workers"] == 1:
            base[run["mode"]] = stats["median"]
        results.append({**run, "throughput_summary": stats})
    for result in results:
        if result["mode"] not in base:
            raise ValueError(f"no one-worker run for mode {result['mode']!r}")
        s = _maths.speedup(result["throughput_summary"]["median"], base[result["mode"]])
        result["speedup"] = s
        result["efficiency"] = _maths.efficiency(s, result["workers"])
        result["karp_flatt"] = _maths.karp_flatt(s, result["workers"])
    done = {
        "interpreter": raw["interpreter"],
        "unit_seconds": raw["unit_seconds"],
        "units": raw["units"],
        "results": results,
    }
    done["verdict"] = verdict(done)
    return done


def _best(report: dict[str, Any], mode: str) -> dict[str, Any] | None:
    runs = [r for r in report["results"] if r["mode"] == mode]
    return max(runs, key=lambda r: r["workers"]) if runs else None


def verdict(report: dict[str, Any]) -> str:
    """One line: how far threads and processes scale, and why."""
    interp = report["interpreter"]
    threads, processes = _best(report, "threads"), _best(report, "processes")
    parts = []
    top = (threads or processes or {}).get("workers", 1)
    cpus = interp.get("cpus") or 1
    where = f"{top} workers" + (f" ({cpus} CPUs)" if top != cpus else "")
    if threads is not None:
        parts.append(f"threads scale to {threads['speedup']:.2f}x on {where}")
    if processes is not None:
        if threads is not None:
            parts.append(f"processes {processes['speedup']:.2f}x")
        else:
            parts.append(f"processes scale to {processes['speedup']:.2f}x on {where}")
    gil = interp["gil_enabled_at_end"]
    ideal = min(top, cpus)
    if threads is None:
        reason = "threads not measured"
    elif top == 1:
        reason = "only one worker measured"
    elif gil:
        if interp["free_threaded_build"]:
            mods = interp.get("gil_reenabled_by") or []
            cause = f"importing {', '.join(mods)} re-enabled it" if mods else "it was enabled"
            reason = (
                f"the GIL is on in this free-threaded build ({cause}; PYTHON_GIL=0 forces it off)"
            )
        elif threads["speedup"] >= 0.7 * ideal:
            reason = "the GIL is on, but this work releases it or waits, so threads scale anyway"
        else:
            reason = "the GIL is on, so threads will not scale here — try a free-threaded build"
    elif threads["speedup"] >= 0.7 * ideal:
        reason = "the GIL is off and free-threading makes this workload scale"
    else:
        kf = threads["karp_flatt"]
        reason = (
            "the GIL is off, yet threads do not scale: about "
            f"{kf:.0%} of the work is serial (locks or shared data)"
        )
    return "; ".join([*parts, reason])


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
        stats = r["throughput_summary"]
        spread = (stats["max"] - stats["min"]) / 2
        kf = "-" if r["karp_flatt"] is None else f"{r['karp_flatt']:.2f}"
        out.append(
            [
                r["mode"],
                str(r["workers"]),
                f"{stats['median']:,.1f}",
                f"± {spread:,.1f}",
                f"{r['speedup']:.2f}x",
                f"{r['efficiency']:.0%}",
                kf,
            ]
        )
    return out


HEADERS = ["mode", "workers", "units/s", "spread", "speedup", "efficiency", "Karp-Flatt"]


def plain_table(document: dict[str, Any]) -> str:
    """The report as plain text: one table and verdict per interpreter."""
    lines = [
        f"threadline scale {document['settings']['target']} "
        f"({document['settings']['scaling']} scaling)"
    ]
    for report in document["interpreters"]:
        table = [HEADERS, *rows(report)]
        widths = [max(len(row[i]) for row in table) for i in range(len(HEADERS))]
        lines += ["", label(report) + f" — {report['interpreter']['executable']}"]
        for n, row in enumerate(table):
            cells = [
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  ".join(cells))
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
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
    """Print the report with rich; False if rich is not installed."""
    try:
        from rich.console import Console  # noqa: PLC0415 - an optional extra
        from rich.table import Table  # noqa: PLC0415
    except ImportError:
        return False
    console = Console()
    settings = document["settings"]
    console.print(f"[bold]threadline scale[/] {settings['target']} ({settings['scaling']} scaling)")
    for report in document["interpreters"]:
        table = Table(title=f"{label(report)} — {report['interpreter']['executable']}")
        for i, header in enumerate(HEADERS):
            table.add_column(header, justify="left" if i == 0 else "right")
        for row in rows(report):
            table.add_row(*row)
        console.print(table)
        console.print(f"[bold]verdict:[/] {report['verdict']}")
    for line in compare(document):
        console.print(line)
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
    """Speedup against workers, per interpreter and mode, with the ideal."""

    def write(tmp: str) -> None:
        import matplotlib  # noqa: PLC0415 - an optional extra

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415

        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
        try:
            _draw(ax, document)
            fig.tight_layout()
            fig.savefig(tmp, format="png")
        finally:
            plt.close(fig)

    return write


def _draw(ax: Any, document: dict[str, Any]) -> None:
    top = 1
    ticks: set[int] = {1}
    for report in document["interpreters"]:
        for mode, style in (("threads", "-o"), ("processes", "--s")):
            runs = [r for r in report["results"] if r["mode"] == mode]
            if runs:
                xs = [r["workers"] for r in runs]
                ax.plot(xs, [r["speedup"] for r in runs], style, label=f"{label(report)}, {mode}")
                top = max(top, *xs)
                ticks.update(xs)
    ax.plot([1, top], [1, top], ":", color="grey", label="ideal")
    ax.set_xticks(sorted(ticks))
    ax.set_xlabel("workers")
    ax.set_ylabel("speedup over one worker")
    settings = document["settings"]
    ax.set_title(f"{settings['target']} ({settings['scaling']} scaling)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
