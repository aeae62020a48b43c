"""``threadline race`` runs a program as python runs it.  Each test runs the
same program with ``python`` and under the detector (``python -m threadline
race``, and the installed ``threadline`` command where it differs) and
compares what the program saw and printed, its standard error and the exit
status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

PROBE = """
import importlib.machinery, sys
g = globals()
print("argv", sys.argv)
print("path0", sys.path[0])
print("main", __name__, g.get("__file__"), repr(g.get("__package__")),
      getattr(g.get("__spec__"), "name", None), g.get("__cached__", "<unset>"),
      isinstance(g.get("__loader__"), importlib.machinery.SourceFileLoader))
print("globals", sorted(k for k in g if not k.startswith("__tl_race")))
sys.exit(int(sys.argv[-1]) if sys.argv[-1].isdigit() else 0)
"""

ERRORS = """
import sys
class Obj:
    __slots__ = ("a",)
o = Obj()
def run(which):
    if which == "attribute":
        return o.missing
    if which == "method":
        return o.nope()
    if which == "store":
        o.b = 1
    if which == "augmented":
        o.a += 1
    if which == "item":
        return {}["k"]
    if which == "delete":
        del o.a
    if which == "builtin":
        return len(5)
    if which == "in":
        return 1 in 5
    if which == "for":
        for x in 5:
            pass
    if which == "with":
        with o:
            pass
    if which == "chained":
        try:
            {}["k"]
        except KeyError as exc:
            raise ValueError("wrapped") from exc
    if which == "group":
        raise ExceptionGroup("g", [ValueError(1), TypeError(2)])
    if which == "thread":
        import threading
        t = threading.Thread(target=run, args=("attribute",))
        t.start()
        t.join()
print("before")
run(sys.argv[1])
"""

USES_LOADER = """
import importlib, importlib.resources, importlib.util, inspect, pkgutil, runpy
import data
print(runpy.run_module("helper")["f"](), runpy.run_module("helper", run_name="x")["__name__"])
namespace = {}
exec(importlib.util.find_spec("helper").loader.get_code("helper"), namespace)
print(namespace["f"]())
print(importlib.resources.files("data").joinpath("table.txt").read_text())
print(pkgutil.get_data("data", "table.txt"))
print(inspect.getsource(data.f))
print(importlib.reload(data).f(), data.__spec__.origin == data.__file__, data.__cached__)
print(type(data.__loader__).__mro__[-3].__name__, data.__loader__.is_package("data"))
"""

CONSOLE = Path(sys.executable).with_name("threadline")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "probe.py", PROBE)
    write(tmp_path / "pkg" / "__init__.py", "import sys\nprint('init', sys.argv)\n")
    write(tmp_path / "pkg" / "__main__.py", PROBE)
    write(tmp_path / "pkg" / "mod.py", PROBE)
    write(tmp_path / "app" / "__main__.py", PROBE)
    write(tmp_path / "nomain" / "__init__.py", "")
    write(tmp_path / "syntax.py", "x = 1\ndef f(:\n    pass\n")
    write(tmp_path / "broken.py", "x = (\n")
    write(tmp_path / "imports_broken.py", "print('importing')\nimport broken\n")
    write(tmp_path / "errors.py", ERRORS)
    write(tmp_path / "data" / "__init__.py", "import os\ndef f():\n    return 'f' + os.sep\n")
    write(tmp_path / "helper.py", "import os\ndef f():\n    return 'f' + os.sep\n")
    write(tmp_path / "data" / "table.txt", "a table\n")
    write(tmp_path / "uses_loader.py", USES_LOADER)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "link.py").symlink_to(tmp_path / "probe.py")
    return tmp_path


def run(command: list[str], args: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=60, check=False, cwd=cwd
    )


def compare(args: tuple[str, ...], cwd: Path, command: list[str]) -> None:
    plain = run([sys.executable], args, cwd)
    under = run(command, args, cwd)
    assert (under.stdout, under.returncode) == (plain.stdout, plain.returncode), under.stderr
    own = f"{sys.executable}: "
    if plain.stderr.startswith(own):  # python could not start it: one line, python's words
        [line] = under.stderr.splitlines()
        assert line.startswith("threadline race: error: " + plain.stderr[len(own) :].strip())
    else:
        assert under.stderr == plain.stderr
    assert "DATA RACE" not in under.stderr


RUNS = [
    ("probe.py", "a", "-b", "--json", "out", "-m", "x", "3"),  # all of it is the program's
    ("sub/link.py",),  # sys.path[0]: the folder of the file the link points to
    ("-m", "pkg", "x", "--include", "y", "-m", "z", "4"),  # a package runs its __main__
    ("-mpkg.mod", "--", "q"),
    ("app", "z"),  # a folder with __main__.py
    ("-m", "nosuch"),
    ("-m", "pkg.nosuch"),
    ("-m", "nosuch.sub"),
    ("-m", "nomain"),  # a package without __main__
    ("nomain",),  # a folder without __main__.py
    ("missing.py",),
    ("syntax.py",),
    ("imports_broken.py",),
    ("uses_loader.py",),  # the modules it imports are loaded (and run) as python's
    *[
        ("errors.py", which)
        for which in (
            "attribute",
            "method",
            "store",
            "augmented",
            "item",
            "delete",
            "builtin",
            "in",
            "for",
            "with",
            "chained",
            "group",
            "thread",
        )
    ],
]


@pytest.mark.parametrize("args", RUNS, ids=" ".join)
def test_runs_as_python_does(project: Path, args: tuple[str, ...]) -> None:
    compare(args, project, [sys.executable, "-m", "threadline", "race"])


@pytest.mark.skipif(not CONSOLE.exists(), reason="no installed threadline command here")
@pytest.mark.parametrize(
    "args",
    [("probe.py", "a"), ("-m", "pkg", "x", "5"), ("-m", "pkg.mod"), ("app",), ("-m", "nosuch")],
    ids=" ".join,
)
def test_the_installed_command_runs_as_python_does(project: Path, args: tuple[str, ...]) -> None:
    """The ``threadline`` script's own folder is python's ``sys.path[0]``;
    the program gets its own (the current directory for ``-m``)."""
    compare(args, project, [str(CONSOLE), "race"])


def test_threads_and_atexit_handlers_run_before_the_report(tmp_path: Path) -> None:
    """Python waits for non-daemon threads (and an executor's workers) after
    the main module, then runs atexit handlers: so does the command, before
    it reports, and the races of those threads count.  The handlers read
    after the wait, which orders them."""
    write(
        tmp_path / "late.py",
        """
        import atexit, threading
        from concurrent.futures import ThreadPoolExecutor

        class C:
            n = 0

        c = C()
        go = threading.Event()

        def work():
            go.wait()
            c.n = 1  # (not += : a free-threaded build really loses updates)

        for _ in range(2):
            threading.Thread(target=work).start()
        pool = ThreadPoolExecutor(1)
        future = pool.submit(pow, 2, 5)
        atexit.register(lambda: print("atexit", c.n, future.result()))
        print("main done")
        go.set()
        """,
    )
    plain = run([sys.executable], ("late.py",), tmp_path)
    under = run([sys.executable, "-m", "threadline", "race"], ("late.py",), tmp_path)
    assert plain.stdout == under.stdout == "main done\natexit 1 32\n"
    assert under.returncode == 66
    assert under.stderr.count("WARNING: DATA RACE") == 1
    assert "MainThread" not in under.stderr
    assert under.stderr.rstrip().endswith("Found 1 data race(s)")


def test_ctrl_c_reports_the_races_so_far_and_exits_130(tmp_path: Path) -> None:
    write(
        tmp_path / "interrupted.py",
        """
        import threading, time

        class C:
            n = 0

        c = C()

        def work():
            c.n += 1

        ts = [threading.Thread(target=work) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        print("ready", flush=True)
        time.sleep(60)
        """,
    )
    done = {}
    for name, command in [
        ("plain", [sys.executable]),
        ("race", [sys.executable, "-m", "threadline", "race"]),
    ]:
        proc = subprocess.Popen(
            [*command, "interrupted.py"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # fail alone: no process or pipe left behind
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"{name}: Ctrl-C did not end the program; its stderr:\n{err[-3000:]}")
        done[name] = (proc.returncode, err)
    assert done["plain"][0] == -signal.SIGINT  # python ends itself by the signal
    status, err = done["race"]
    assert status == 130
    assert "WARNING: DATA RACE" in err
    # python's traceback, without the detector's frames (the signal may come
    # in the last line or two, as with python)
    traceback = err[err.index("Traceback (most recent call last):") :]
    assert traceback.endswith("KeyboardInterrupt\nFound 1 data race(s)\n")
    files = [line for line in traceback.splitlines() if line.startswith("  File ")]
    assert files
    assert all(line.startswith(f'  File "{tmp_path / "interrupted.py"}", line 1') for line in files)
    assert done["plain"][1].startswith("Traceback (most recent call last):")
    assert err.index("WARNING: DATA RACE") < err.index("KeyboardInterrupt")
    assert err.rstrip().endswith("Found 1 data race(s)")


def test_sys_path_is_left_alone_with_safe_path(project: Path) -> None:
    """``python -P`` (PYTHONSAFEPATH) puts no folder first: neither does the
    command."""
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "threadline", "race", "probe.py"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=project,
        env=env,
    )
    plain = subprocess.run(
        [sys.executable, "probe.py"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=project,
        env=env,
    )
    assert done.stdout == plain.stdout
