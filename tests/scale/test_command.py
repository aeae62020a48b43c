"""``threadline scale`` end to end, on small budgets: the protocol in a
subprocess per interpreter, the JSON (against its schema), the PNG, the
table, and every kind of bad input (exit status 2, nothing written)."""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import pytest

import threadline
from threadline._cli import main, parser
from threadline.scale import _command, _report

from . import synthetic

pytestmark = pytest.mark.timeout(120)

QUICK = ["--duration", "0.03", "--rounds", "2", "--warmup", "0.01", "--quiet"]


def other_python() -> str | None:
    """A second interpreter (3.12+) that is not the one running the tests."""
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for pattern in ("3.12", "3.13", "3.11"):
        if pattern == mine:
            continue
        found = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{pattern}.*/bin/python3")))
        if found:
            return found[-1]
    return None


def threads_report(out: Path, *extra: str) -> int:
    """A quick report on the io_sleep workload, threads only, into *out*."""
    args = ["scale", "threadline.scale.workloads:io_sleep", "--mode", "threads", *QUICK]
    return main([*args, "--json", str(out), *extra])


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def validate(document: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(_report.SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.validate(document, schema)


def test_report_with_json_plot_and_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    png = tmp_path / "speedup.png"
    txt = tmp_path / "table.txt"
    status = main(
        [
            "scale",
            "threadline.scale.workloads:cpu",
            "--workers",
            "2",
            *QUICK,
            "--json",
            str(out),
            "--plot",
            str(png),
            "--table",
            str(txt),
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out

    document = load(out)
    validate(document)
    [report] = document["interpreters"]
    assert report["verdict"].startswith("threads ")
    assert f"verdict: {report['verdict']}\n" in printed
    assert document["settings"]["workers"] == [1, 2]  # 1 is always measured
    assert report["interpreter"]["executable"] == sys.executable
    assert report["interpreter"]["version"] == ".".join(map(str, sys.version_info[:3]))
    if sysconfig.get_config_var("Py_GIL_DISABLED"):  # as the imports left it
        assert isinstance(report["interpreter"]["gil_enabled_at_end"], bool)
    else:
        assert report["interpreter"]["gil_enabled_at_end"] is True
    points = {(r["mode"], r["workers"]) for r in report["results"]}
    assert points == {("threads", 1), ("threads", 2), ("processes", 1), ("processes", 2)}
    for result in report["results"]:
        assert len(result["seconds"]) == len(result["throughput"]) == 2
        # weak scaling: every worker did the calibrated number of units
        assert result["units_per_round"] == report["units"] * result["workers"]
        for seconds, rate in zip(result["seconds"], result["throughput"], strict=True):
            assert rate == pytest.approx(result["units_per_round"] / seconds)

    image = pytest.importorskip("matplotlib.image").imread(str(png))
    assert image.shape[0] > 100
    assert image.shape[1] > 100

    text = txt.read_text(encoding="utf-8")
    assert "Karp-Flatt" in text
    assert report["verdict"] in text.replace("\n", " ")
    assert not list(tmp_path.glob(".threadline-*"))  # no temporary left behind


def test_file_target_strong_scaling_threads_only(tmp_path: Path) -> None:
    unit = tmp_path / "work.py"
    unit.write_text("import time\n\ndef unit():\n    time.sleep(0.001)\n", encoding="utf-8")
    out = tmp_path / "r.json"
    status = main(
        [
            "scale",
            f"{unit}:unit",
            "--workers",
            "1,3",
            "--mode",
            "threads",
            "--scaling",
            "strong",
            *QUICK,
            "--json",
            str(out),
        ]
    )
    assert status == 0
    document = load(out)
    validate(document)
    [report] = document["interpreters"]
    assert {r["mode"] for r in report["results"]} == {"threads"}
    # strong scaling: the same total, shared
    assert {r["units_per_round"] for r in report["results"]} == {report["units"]}


def test_a_second_interpreter(tmp_path: Path) -> None:
    other = other_python()
    if other is None:
        pytest.skip("no second Python 3.11+ under pyenv")
    out = tmp_path / "r.json"
    status = main(
        [
            "scale",
            "threadline.scale.workloads:io_sleep",
            "--workers",
            "2",
            "--mode",
            "threads",
            "--python",
            other,
            *QUICK,
            "--json",
            str(out),
        ]
    )
    assert status == 0
    document = load(out)
    validate(document)
    first, second = document["interpreters"]
    assert first["interpreter"]["executable"] == sys.executable
    assert Path(second["interpreter"]["executable"]).resolve() == Path(other).resolve()
    assert first["interpreter"]["version"] != second["interpreter"]["version"]


def test_python_gil_setting_passes_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_GIL", "1")
    out = tmp_path / "r.json"
    assert threads_report(out) == 0
    assert load(out)["interpreters"][0]["interpreter"]["env_PYTHON_GIL"] == "1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["no_such_module_xyz:f"],
            "cannot load the target on .*cannot import 'no_such_module_xyz'",
        ),
        (["threadline.scale.workloads:nope"], "has no attribute 'nope'"),
        (["tests.scale.units:explode"], "the unit of work raised on .*ZeroDivisionError"),
        (["just_a_module"], "TARGET must be MODULE:FUNCTION"),
        (["m:f", "--workers", "0,-1,x"], r"--workers: '0' is not a positive integer"),
        (["m:f", "--workers", "2,x"], r"--workers: 'x' is not a positive integer"),
        (["m:f", "--mode", "fibers"], "--mode: expected threads and/or processes, got 'fibers'"),
        (["m:f", "--duration", "nan"], "--duration must be >= 0.001, got nan"),
        (["m:f", "--rounds", "0"], "--rounds must be >= 1, got 0"),
        (
            ["m:f", "--python", "/no/such/python"],
            "--python: no such interpreter: '/no/such/python'",
        ),
        (["m:f", "--python", "/bin/true"], "--python: '/bin/true' is not a Python interpreter"),
        (
            ["m:f", "--json", "/no/such/folder/r.json"],
            "--json: the folder '/no/such/folder' does not exist",
        ),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(Path(__file__).parents[2])  # so tests.scale.units imports
    out = tmp_path / "r.json"
    png = tmp_path / "p.png"
    extra = [] if "--json" in args else ["--json", str(out), "--plot", str(png)]
    status = main(["scale", *QUICK, *args, *extra])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("threadline scale: error: ")
    assert re.search(message, err, re.DOTALL), err
    assert not out.exists()
    assert not png.exists()


def test_python_2_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    found = glob.glob(os.path.expanduser("~/.pyenv/versions/2.7*/bin/python"))
    if not found:
        pytest.skip("no Python 2 under pyenv")
    assert main(["scale", "m:f", "--python", found[0], *QUICK]) == 2
    assert "is Python 2.7; threadline needs 3.11+" in capsys.readouterr().err


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["scale"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["scale", "m:f", "--scaling", "sideways"])
    assert info.value.code == 2


def test_python_dash_m_threadline() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "threadline", "scale", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "--python PATH" in done.stdout
    assert "--scaling" in done.stdout


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        ("die_in_worker", "died with exit code 3 without reporting"),
        ("fail_later_in_worker", "RuntimeError: worker gave up"),
    ],
)
def test_a_failing_worker_process_ends_the_run_promptly(
    unit: str, message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: a dead worker left the others at the barrier and the
    # parent waiting for ten minutes.
    monkeypatch.chdir(Path(__file__).parents[2])
    started = time.monotonic()
    args = ["scale", f"tests.scale.units:{unit}", "--mode", "processes", "--workers", "2"]
    assert main([*args, *QUICK]) == 2
    assert time.monotonic() - started < 30
    assert message in capsys.readouterr().err


def test_undecodable_output_without_a_newline_is_passed_through(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: strict decoding crashed the command; a progress line glued
    # to the unit's output was lost.
    monkeypatch.chdir(Path(__file__).parents[2])
    args = ["scale", "tests.scale.units:noisy", "--mode", "threads", "--workers", "1"]
    assert main([*args, *QUICK]) == 0
    assert "\ufffd" in capsys.readouterr().err


def test_outputs_get_the_usual_permissions(tmp_path: Path) -> None:
    # Regression: files came out 0600 (mkstemp's mode).
    out = tmp_path / "r.json"
    assert threads_report(out) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_folder_as_output_and_a_failing_plot_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["scale", "m:f", *QUICK, "--json", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err

    def broken(document: object) -> object:
        def write(tmp: str) -> None:
            raise OSError("disk full")

        return write

    monkeypatch.setattr(_report, "plot_writer", broken)
    out, png = tmp_path / "r.json", tmp_path / "p.png"
    with pytest.raises(OSError, match="disk full"):
        threads_report(out, "--plot", str(png))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_other_interpreters_see_only_threadline(tmp_path: Path) -> None:
    # Regression: this interpreter's site-packages went on PYTHONPATH.
    env = _command._environment(str(tmp_path))
    first = Path(env["PYTHONPATH"].split(os.pathsep)[0])
    assert sorted(p.name for p in first.iterdir()) == ["threadline"]
    assert (first / "threadline" / "__init__.py").is_file()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"threadline {threadline.__version__}\n"
    done = subprocess.run(
        [sys.executable, "-m", "threadline", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, f"threadline {threadline.__version__}\n")


def test_help_shows_every_default() -> None:
    top = parser("scale")
    [commands] = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    scale = commands.choices["scale"]
    options = [a for a in scale._actions if a.option_strings and a.dest != "help"]
    assert len(options) == 11
    for action in options:
        assert action.help is not None
        assert "(default: " in action.help, action.option_strings
        if action.default not in (None, [], False):
            assert "%(default)s" in action.help or str(action.default) in action.help
    assert "(default: 1.0)" in " ".join(scale.format_help().split())


@pytest.mark.parametrize(
    ("threads", "processes", "limit", "words"),
    [
        ([100, 195], [100, 190], "none", "the GIL is off and threads scale"),
        ([100, 104], [100, 190], "threads_contend", "the GIL is off, yet threads do not scale"),
        ([100, 104], [100, 101], "shared_resource", "no Python build will help"),
    ],
)
def test_measurements_from_a_free_threaded_interpreter(
    threads: list[float],
    processes: list[float],
    limit: str,
    words: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No free-threaded build here: the runner's result is made up, the rest is real.
    measured = synthetic.raw(threads, processes, **synthetic.free_threaded(cpus=2))
    monkeypatch.setattr(_command, "_measure", lambda python, settings, progress: measured)
    out, txt = tmp_path / "r.json", tmp_path / "t.txt"
    status = main(
        ["scale", "m:f", "--workers", "2", *QUICK, "--json", str(out), "--table", str(txt)]
    )
    assert status == 0
    document = load(out)
    validate(document)
    [report] = document["interpreters"]
    assert report["limit"] == limit
    assert words in report["verdict"]
    assert "try a free-threaded build" not in report["verdict"]
    printed = capsys.readouterr().out
    assert "CPython 3.14.0t (GIL off)" in printed
    assert f"verdict: {report['verdict']}\n" in printed
    assert txt.read_text(encoding="utf-8") == printed


ROOT = Path(__file__).parents[2]
# The command as a terminal would run it: Python's own SIGINT handler even
# where the test runner was started with SIGINT ignored.
COMMAND = [
    sys.executable,
    "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from threadline._cli import main; sys.exit(main())",
]


def start(args: list[str], pids: Path) -> subprocess.Popen[str]:
    """``threadline scale ARGS`` in a session of its own, as from a terminal."""
    env = {**os.environ, "THREADLINE_TEST_PIDS": str(pids)}
    return subprocess.Popen(
        [*COMMAND, "scale", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(proc: subprocess.Popen[str], text: str) -> list[str]:
    """Read stderr until a line contains *text*."""
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never came; stderr:\n{''.join(seen)}")


def alive(pid: int) -> bool:
    """Whether *pid* runs (a zombie waiting for its reaper does not)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


def all_gone(pids: Path) -> list[int]:
    """The recorded processes still alive, after a few seconds' grace."""
    recorded = [int(p.name) for p in pids.iterdir()]
    assert recorded, "the unit never ran"
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in recorded) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in recorded if alive(pid)]


posix_only = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="needs process groups and /proc"
)


@posix_only
@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_ctrl_c_stops_the_run_cleanly(mode: str, tmp_path: Path) -> None:
    # Regression: Ctrl-C printed an internal traceback and left the
    # measuring process running.
    pids = tmp_path / "pids"
    pids.mkdir()
    out = tmp_path / "r.json"
    args = ["tests.scale.units:slow_and_recorded", "--mode", mode, "--workers", "2"]
    proc = start([*args, "--duration", "1", "--warmup", "0.05", "--json", str(out)], pids)
    before = wait_for(proc, f"{mode}, 2 worker(s)")
    time.sleep(0.3)  # well inside a round
    os.killpg(proc.pid, signal.SIGINT)  # as the terminal does on Ctrl-C
    stdout, stderr = proc.communicate(timeout=60)
    stderr = "".join(before) + stderr
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "threadline scale: interrupted after " in stderr
    assert "(nothing is reported from an incomplete run); no report written" in stderr
    assert "killing it" not in stderr  # the runner stopped by itself
    assert stdout == ""  # no table of a part of the run
    assert not out.exists()
    assert all_gone(pids) == []


@posix_only
def test_a_second_ctrl_c_kills_a_run_that_does_not_stop(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    args = ["tests.scale.units:deaf_to_ctrl_c", "--mode", "processes", "--workers", "2"]
    proc = start([*args, "--duration", "3", "--warmup", "0.05"], pids)
    before = wait_for(proc, "processes, 1 worker(s)")
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.5)
    assert proc.poll() is None  # waiting for the runner, which ignores SIGINT
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    stderr = "".join(before) + stderr
    assert proc.returncode == 130, stderr
    assert stdout == ""
    assert "Traceback" not in stderr
    assert "threadline scale: the measurement did not stop; killing it" in stderr
    assert "no report written" in stderr
    assert all_gone(pids) == []


@pytest.mark.parametrize(
    ("unit", "mode", "message", "output"),
    [
        (
            "exit_in_warm_up",
            "threads",
            r"the unit of work exited with status 3 \(it raised SystemExit\(3\)\) on .* "
            r"\(warm-up\); its last output:",
            "leaving in the warm-up",
        ),
        (
            "exit_in_worker_thread",
            "threads",
            r"the unit of work exited with status 4 \(it raised SystemExit\(4\)\) on .* "
            r"\(threads, 1 worker\); its last output:",
            "leaving from a worker thread",
        ),
        (
            "exit_in_worker_process",
            "processes",
            r"the unit of work exited with status 5 \(it raised SystemExit\(5\)\) on .* "
            r"\(processes, 1 worker\); its last output:",
            "leaving from a worker process",
        ),
        (
            "crash_in_worker_process",
            "processes",
            r"a worker process \(pid \d+\) was killed by signal 11 \(SIGSEGV\) without "
            r"reporting, on .* \(processes, 1 worker\); its last output:",
            "crashing in a worker process",
        ),
        (
            "hard_exit_in_worker_thread",
            "threads",
            r"the measurement on .* exited with status 7 without a result; its last output:",
            "os._exit(7) from a worker thread",
        ),
    ],
)
def test_a_unit_that_exits_or_crashes(unit: str, mode: str, message: str, output: str) -> None:
    # Regression: sys.exit in a unit, or a worker that crashed, was reported
    # without its status or what it printed.
    if unit == "crash_in_worker_process" and not hasattr(signal, "SIGSEGV"):
        pytest.skip("no SIGSEGV")
    done = subprocess.run(
        [*COMMAND, "scale", f"tests.scale.units:{unit}", "--mode", mode, *QUICK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    error = done.stderr[done.stderr.index("threadline scale: error: ") :]
    assert re.search(message, error), error
    assert error.rstrip().endswith(f"  | {output}"), error
    assert "Traceback" not in done.stderr


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_terminal(args: list[str], columns: int) -> str:
    """``threadline scale ARGS`` with stdout on a pseudo-terminal *columns* wide."""
    import fcntl  # noqa: PLC0415
    import pty  # noqa: PLC0415
    import struct  # noqa: PLC0415
    import termios  # noqa: PLC0415

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm"
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [*COMMAND, "scale", *args], cwd=ROOT, env=env, stdout=slave, stderr=subprocess.DEVNULL
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    return ANSI.sub("", b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n"))


def fast_report(tmp_path: Path) -> tuple[list[str], Path]:
    out = tmp_path / "r.json"
    args = ["tests.scale.units:nothing", "--mode", "threads", "--workers", "2", *QUICK]
    return [*args, "--json", str(out)], out


def assert_whole(printed: str, out: Path) -> None:
    """Every rate and verdict of the JSON report appears, uncut, in *printed*."""
    [report] = load(out)["interpreters"]
    assert "…" not in printed
    for result in report["results"]:
        rate = f"{result['throughput_summary']['median']:,.1f}"
        assert len(rate) >= 9  # a million or more: the figures that were cut
        assert rate in printed
    assert report["verdict"] in " ".join(printed.split())


def test_piped_output_is_never_cut_short(tmp_path: Path) -> None:
    # Regression: piped output showed `1,218,074…`.
    args, out = fast_report(tmp_path)
    table = tmp_path / "table.txt"
    done = subprocess.run(
        [*COMMAND, "scale", *args, "--table", str(table)],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "40"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "━" not in done.stdout  # plain text, not rich's box
    assert_whole(done.stdout, out)
    assert done.stdout == table.read_text(encoding="utf-8")


@posix_only
@pytest.mark.parametrize(("columns", "boxed"), [(40, False), (200, True)])
def test_a_terminal_gets_the_whole_table(columns: int, boxed: bool, tmp_path: Path) -> None:
    pytest.importorskip("rich")
    args, out = fast_report(tmp_path)
    printed = run_in_terminal(args, columns)
    assert ("━" in printed) is boxed  # rich only where its table fits
    assert_whole(printed, out)
