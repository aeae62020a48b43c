"""``threadline race`` as a command: the report's format (both stacks, both
threads and where they were started), exit statuses, ``-m``, ``--json``,
``--suppress``, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).with_name("corpus")

pytestmark = pytest.mark.timeout(120)


def race(*args: str, cwd: Path = CORPUS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "threadline", "race", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def line_of(name: str, text: str) -> int:
    """The number of the first line of corpus program *name* containing *text*."""
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def test_report_format() -> None:
    access = line_of("race_attribute_counter.py", "counter.count += 1")
    start = line_of("race_attribute_counter.py", "t.start()")
    done = race("race_attribute_counter.py")
    assert done.returncode == 66
    err = done.stderr
    assert err.count("WARNING: DATA RACE") == 1
    lines = err.splitlines()
    head = lines.index("WARNING: DATA RACE")
    assert lines[head - 1] == lines[-2] == "=" * 18
    assert lines[head + 1].startswith(
        ("Read of Counter.count by Thread-", "Write of Counter.count by Thread-")
    )
    previous = next(line for line in lines if line.startswith("Previous "))
    assert previous.startswith(
        ("Previous write of Counter.count by Thread-", "Previous read of Counter.count")
    )
    # both stacks, with file:line frames in the program (its file as python names it)
    program = CORPUS / "race_attribute_counter.py"
    assert err.count(f"  work()\n      {program}:{access}\n") == 2
    # where each thread was started
    where = f" created at:\n  <module>()\n      {program}:{start}\n"
    assert err.count(where) == 2
    assert lines[-1] == "Found 1 data race(s)"


def test_json(tmp_path: Path) -> None:
    out = tmp_path / "races.json"
    done = race("--json", str(out), "race_global.py")
    assert done.returncode == 66
    [found] = json.loads(out.read_text(encoding="utf-8"))["races"]
    assert (
        found["current"]["location"]
        == found["previous"]["location"]
        == "global total (module __main__)"
    )
    assert {found["current"]["kind"], found["previous"]["kind"]} <= {"read", "write"}
    assert "write" in {found["current"]["kind"], found["previous"]["kind"]}
    assert found["current"]["thread"]["id"] != found["previous"]["thread"]["id"]
    assert found["current"]["thread_created_at"][0]["line"] == line_of(
        "race_global.py", "t.start()"
    )
    assert found["current"]["stack"][0]["function"] == "add"


def test_no_race_exits_with_the_programs_status(tmp_path: Path) -> None:
    script = tmp_path / "quits.py"
    script.write_text("import sys\nprint('hello', sys.argv[1:])\nsys.exit(3)\n", encoding="utf-8")
    done = race(str(script), "a", "b", cwd=tmp_path)
    assert done.returncode == 3
    assert done.stdout == "hello ['a', 'b']\n"
    assert "DATA RACE" not in done.stderr


def test_a_failing_program_with_a_race_still_exits_66(tmp_path: Path) -> None:
    script = tmp_path / "fails.py"
    script.write_text(
        (CORPUS / "race_global.py").read_text(encoding="utf-8") + "\nraise ValueError('boom')\n",
        encoding="utf-8",
    )
    done = race(str(script), cwd=tmp_path)
    assert done.returncode == 66
    assert "ValueError: boom" in done.stderr


def test_dash_m_module(tmp_path: Path) -> None:
    package = tmp_path / "app"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "state.py").write_text("hits = {'n': 0}\n", encoding="utf-8")
    (package / "main.py").write_text(
        "import threading\nfrom app import state\n\n"
        "def hit():\n    state.hits['n'] += 1\n\n"
        "ts = [threading.Thread(target=hit) for _ in range(2)]\n"
        "for t in ts:\n    t.start()\nfor t in ts:\n    t.join()\n",
        encoding="utf-8",
    )
    done = race("-m", "app.main", cwd=tmp_path)
    assert done.returncode == 66, done.stderr
    assert "dict['n']" in done.stderr


def test_suppressions(tmp_path: Path) -> None:
    rules = tmp_path / "suppress.txt"
    line = line_of("race_global.py", "total += 1")
    rules.write_text(f"# known and accepted\nrace_global.py:{line}\n", encoding="utf-8")
    assert race("--suppress", str(rules), "race_global.py").returncode == 0
    rules.write_text("add  # by function\n", encoding="utf-8")
    assert race("--suppress", str(rules), "race_global.py").returncode == 0
    rules.write_text("elsewhere.py:1\n", encoding="utf-8")
    assert race("--suppress", str(rules), "race_global.py").returncode == 66


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give a SCRIPT or -m MODULE"),
        (("--suppress", "/no/such/file", "race_global.py"), "--suppress:"),
        (("-m",), "argument -m: expected one argument"),
        (("--include", "/no/such/dir", "race_global.py"), "--include: no such folder"),
        (("--json", "/no/such/dir/out.json", "race_global.py"), "--json: no such folder"),
        (("--json", ".", "race_global.py"), "is a folder; give a file name"),
        (("--bogus", "race_global.py"), "usage: threadline race"),
    ],
)
def test_bad_input(args: tuple[str, ...], message: str) -> None:
    """Checked before the program runs: its races are not lost to a typo."""
    done = race(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert "DATA RACE" not in done.stderr


def test_a_json_file_that_cannot_be_written_keeps_the_report_and_status(tmp_path: Path) -> None:
    """Regression: a --json file that could not be written ended the run
    with a traceback and status 1, losing the summary and status 66."""
    target = tmp_path / "out.json"
    target.mkdir()  # made a folder after the check, as a file system can change
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, threadline.race._command as c; "
            "c._bad_paths = lambda args: None; "
            "from threadline._cli import main; sys.exit(main())",
            "race",
            "--json",
            str(target),
            "race_global.py",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=CORPUS,
    )
    assert done.returncode == 66, done.stderr
    assert "threadline race: error: --json:" in done.stderr
    assert "Found 1 data race(s)" in done.stderr
    assert "Traceback" not in done.stderr


def test_instrumented_code_is_never_cached(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text("value = 1\n", encoding="utf-8")
    (tmp_path / "main.py").write_text("import helper\nprint(helper.value)\n", encoding="utf-8")
    assert race("main.py", cwd=tmp_path).returncode == 0
    cached = (
        list((tmp_path / "__pycache__").glob("*.pyc"))
        if (tmp_path / "__pycache__").exists()
        else []
    )
    for pyc in cached:
        assert b"__tl_race__" not in pyc.read_bytes()


def test_a_pmap_worker_is_named_after_the_users_call(tmp_path: Path) -> None:
    """Regression: races in a pmap's fn named an internal task (``task
    Engine._drive``) created at ``Thread.run()``; they name the pmap and
    the line that called it."""
    (tmp_path / "pm.py").write_text(
        "import threadline as tl, time\n"
        "class T:\n"
        "    n = 0\n"
        "t = T()\n"
        "def fn(x):\n"
        "    t.n += x; time.sleep(0.001)  # the workers overlap\n"
        "def main():\n"
        "    list(tl.pmap(fn, range(200), workers=4))\n"
        "main()\n",
        encoding="utf-8",
    )
    done = race("pm.py", cwd=tmp_path)
    assert done.returncode == 66, done.stderr
    assert "by pmap of fn (thread" in done.stderr
    assert "Engine" not in done.stderr
    created = done.stderr.split("created at:", 1)[1]
    assert f"{tmp_path / 'pm.py'}:8" in created


def test_an_annotated_assignment_is_reported_at_its_line(tmp_path: Path) -> None:
    """Regression: ``v: int = 1`` had its write reported at a later line."""
    (tmp_path / "ann.py").write_text(
        "import threading\n"
        "def main():\n"
        "    v = 0\n"
        "    def w():\n"
        "        nonlocal v\n"
        "        v += 1\n"
        "    t = threading.Thread(target=w)\n"
        "    t.start()\n"
        "    v: int = 1\n"
        "    print('after')\n"
        "    t.join()\n"
        "main()\n",
        encoding="utf-8",
    )
    done = race("ann.py", cwd=tmp_path)
    assert done.returncode == 66, done.stderr
    assert f"{tmp_path / 'ann.py'}:9" in done.stderr
    assert f"{tmp_path / 'ann.py'}:10" not in done.stderr
