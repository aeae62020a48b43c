"""``pytest --parallel-threads=N --race``: pytest-run-parallel runs each
test's function in N threads at once; the detector names the races between
them, and nothing else.  Each test runs pytest in a subprocess on a small
project made in ``tmp_path`` (on both detector paths: tests/race/conftest.py
sets THREADLINE_RACE_PURE, which the subprocess inherits)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "race" / "parallel"

RACY = """\
class Counter:
    def __init__(self):
        self.n = 0

    def increment(self):
        self.n += 1
"""

LOCKED = """\
import threading


class Counter:
    def __init__(self):
        self.n = 0
        self._lock = threading.Lock()

    def increment(self):
        with self._lock:
            self.n += 1
"""

SHARED = """\
from counter import Counter

shared = Counter()


def test_increment():
    for _ in range(100):
        shared.increment()
"""

# the library's line and the test's line that race, both in each stack
RACE = re.compile(
    r"(Read|Write) of Counter\.n by (Thread-\d+ \(closure\)) \(thread \d+\):\n"
    r"  Counter\.increment\(\)\n      \S*/counter\.py:6\n"
    r"  test_increment\(\)\n      \S*/test_counter\.py:8\n"
    r"\n"
    r"Previous (read|write) of Counter\.n by (Thread-\d+ \(closure\)) \(thread \d+\):\n"
    r"  Counter\.increment\(\)\n      \S*/counter\.py:6\n"
    r"  test_increment\(\)\n      \S*/test_counter\.py:8\n"
)


def project(path: Path, **files: str) -> Path:
    """A folder of files named ``name.py`` (``conftest``, ``test_x``...)."""
    for name, text in files.items():
        (path / f"{name}.py").write_text(text)
    return path


def run_pytest(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in *path*, as a user runs it there (stderr merged into stdout)."""
    basetemp = path / ".basetemp"  # not pytest's default: that one prunes old runs
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--basetemp={basetemp}", *args],
        cwd=path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=150,
        check=False,
    )


def parallel(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_pytest(path, "--parallel-threads=4", "--race", *args)


def statuses(out: str) -> dict[str, str]:
    """What ``-v`` says of each test: ``PARALLEL PASSED``, ``PASSED
    [thread-unsafe]: ...``, ``SKIPPED (...)``..."""
    found = re.findall(r"^(\S+::\S+) (.+?)\s+\[\s*\d+%\]$", out, re.MULTILINE)
    return dict(found)


def test_a_racy_library_is_reported_with_both_stacks(tmp_path: Path) -> None:
    project(tmp_path, counter=RACY, test_counter=SHARED)
    result = parallel(tmp_path)
    out = result.stdout
    assert result.returncode == 1, out
    assert "1 data race(s) during test_counter.py::test_increment:" in out
    match = RACE.search(out)
    assert match is not None, out
    assert match.group(2) != match.group(4)  # two of the test's threads
    assert "created at:\n  wrap_function_parallel.<locals>.inner()" in out
    assert "PARALLEL FAILED test_counter.py::test_increment" in out
    assert "threadline race: Found 1 data race(s)" in out
    # without the detector the same run passes: nothing checks the count
    plain = run_pytest(tmp_path, "--parallel-threads=4")
    assert plain.returncode == 0, plain.stdout
    assert "DATA RACE" not in plain.stdout


def test_the_locked_library_is_clean(tmp_path: Path) -> None:
    project(tmp_path, counter=LOCKED, test_counter=SHARED)
    result = parallel(tmp_path, "-v")
    assert result.returncode == 0, result.stdout
    assert "threadline race: Found 0 data race(s)" in result.stdout
    assert statuses(result.stdout) == {"test_counter.py::test_increment": "PARALLEL PASSED"}


OWN_STATE = """\
import pytest
from counter import Counter

LIMIT = 50  # read by every thread, written by none


class Box:
    def __init__(self, items):
        self.items = items


def test_own_objects(thread_index):
    counter = Counter()
    squares = {}
    seen = []
    box = Box(seen)
    for i in range(LIMIT):
        counter.increment()
        squares[i] = i * i + thread_index
        box.items.append(i)
    assert counter.n == LIMIT and len(seen) == LIMIT and sum(squares) == sum(range(LIMIT))


def test_own_locals():
    total = 0
    for i in range(LIMIT):
        total += i

    def add(n):
        nonlocal total
        total += n

    add(1)
    assert total == sum(range(LIMIT)) + 1


def test_own_tmp_path(tmp_path):
    (tmp_path / "data.txt").write_text("x" * LIMIT)
    assert len((tmp_path / "data.txt").read_text()) == LIMIT
"""


def test_threads_on_their_own_state_report_nothing(tmp_path: Path) -> None:
    """Objects, locals and files each thread makes for itself are not
    shared, even with the racy library: nothing is reported."""
    project(tmp_path, counter=RACY, test_own=OWN_STATE)
    result = parallel(tmp_path, "-v")
    assert result.returncode == 0, result.stdout
    assert "threadline race: Found 0 data race(s)" in result.stdout
    assert set(statuses(result.stdout).values()) == {"PARALLEL PASSED"}
    assert len(statuses(result.stdout)) == 3


FIXTURES = """\
import pytest
from counter import Counter


@pytest.fixture
def counter(num_parallel_threads):
    made = Counter()  # in the main thread, before the test's threads start
    yield made
    assert made.n == 100 * num_parallel_threads  # after they were joined
"""

USES_FIXTURE = """\
def test_increment(counter):
    for _ in range(100):
        counter.increment()
"""


def test_a_fixture_shared_by_the_threads(tmp_path: Path) -> None:
    """The fixture is set up before the threads start and torn down after
    they are joined: the setup's writes and the teardown's reads are
    ordered with the threads' accesses."""
    project(tmp_path, counter=LOCKED, conftest=FIXTURES, test_counter=USES_FIXTURE)
    result = parallel(tmp_path, "-v")
    assert result.returncode == 0, result.stdout
    assert "threadline race: Found 0 data race(s)" in result.stdout
    assert statuses(result.stdout) == {"test_counter.py::test_increment": "PARALLEL PASSED"}


def test_a_library_imported_by_conftest_is_instrumented(tmp_path: Path) -> None:
    """The session starts before pytest imports conftest.py: a library that
    only conftest.py imports is instrumented too (it was not, and its race
    went unseen)."""
    fixture = "import pytest\nfrom counter import Counter\n\n\n@pytest.fixture\ndef counter():\n"
    fixture += "    return Counter()\n"
    project(tmp_path, counter=RACY, conftest=fixture, test_counter=USES_FIXTURE)
    result = parallel(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "1 data race(s) during test_counter.py::test_increment:" in result.stdout
    assert re.search(r"Counter\.increment\(\)\n      \S*/counter\.py:6\n", result.stdout)


TWICE = """\
import threading


def twice(fn):
    threads = [threading.Thread(target=fn) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
"""

RACY_FIXTURE = """\
import pytest
from counter import Counter
from threads import twice


@pytest.fixture
def counter():
    made = Counter()
    twice(made.increment)  # races in the setup
    yield made
    twice(made.increment)  # races in the teardown (the same lines: reported once)


@pytest.fixture
def warmed():
    made = Counter()
    yield made

    def reset():
        made.n = 0  # races in the teardown

    twice(reset)
"""

FAILING = """\
from counter import Counter
from threads import twice


def test_setup(counter):
    pass


def test_teardown(warmed):
    pass


def test_failing_call():
    c = Counter()

    def set_one():
        c.n = 1  # races, and the test fails anyway

    twice(set_one)
    assert c.n == 2
"""


def test_races_in_setup_teardown_and_failed_tests_are_shown(tmp_path: Path) -> None:
    """A race in a fixture's setup or teardown is an error of that phase; a
    race in a test that fails anyway is added to its failure."""
    project(tmp_path, counter=RACY, threads=TWICE, conftest=RACY_FIXTURE, test_phases=FAILING)
    result = run_pytest(tmp_path, "--race")
    out = result.stdout
    assert result.returncode == 1, out
    assert "ERROR at setup of test_setup" in out
    assert "1 data race(s) during test_phases.py::test_setup:" in out
    assert "ERROR at teardown of test_teardown" in out
    assert "1 data race(s) during test_phases.py::test_teardown:" in out
    failure = out[out.index("_ test_failing_call _") :]
    assert "assert 1 == 2" in failure
    assert "threadline race" in failure
    assert "1 data race(s) during test_phases.py::test_failing_call:" in failure
    assert "threadline race: Found 3 data race(s)" in out


COMPARED = """\
from counter import Counter

shared = Counter()


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __eq__(self, other):
        return (self.x, self.y) == (other.x, other.y)


def test_compared(thread_comp):
    thread_comp(point=Point(1, 2))


def test_compared_then_racy(thread_comp):
    thread_comp(point=Point(3, 4))
    shared.increment()
"""


def test_thread_comp_orders_the_values_it_compares(tmp_path: Path) -> None:
    """``thread_comp`` makes one thread compare what every thread passed,
    after a barrier in code that is not instrumented: that barrier is an
    edge (no race on Point's fields), and what follows it still races."""
    project(tmp_path, counter=RACY, test_compared=COMPARED)
    result = parallel(tmp_path, "-v")
    out = result.stdout
    assert result.returncode == 1, out
    assert statuses(out) == {
        "test_compared.py::test_compared": "PARALLEL PASSED",
        "test_compared.py::test_compared_then_racy": "PARALLEL FAILED",
    }
    assert "Point." not in out
    assert "1 data race(s) during test_compared.py::test_compared_then_racy:" in out
    assert "threadline race: Found 1 data race(s)" in out


THREAD_UNSAFE = """\
import pytest
from counter import Counter

shared = Counter()


@pytest.mark.thread_unsafe
def test_marked():
    shared.increment()


def test_monkeypatched(monkeypatch):
    monkeypatch.setattr(shared, "n", 0)
    shared.increment()
"""


def test_thread_unsafe_tests_run_once_and_report_nothing(tmp_path: Path) -> None:
    """A test marked ``thread_unsafe`` (or found unsafe: it uses monkeypatch)
    runs in the main thread alone: there is nothing to race with."""
    project(tmp_path, counter=RACY, test_unsafe=THREAD_UNSAFE)
    result = parallel(tmp_path, "-v")
    assert result.returncode == 0, result.stdout
    assert statuses(result.stdout) == {
        "test_unsafe.py::test_marked": "PASSED [thread-unsafe]: uses the thread_unsafe marker",
        "test_unsafe.py::test_monkeypatched": (
            "PASSED [thread-unsafe]: uses thread-unsafe fixture(s): {'monkeypatch'}"
        ),
    }
    assert "threadline race: Found 0 data race(s)" in result.stdout


MIXED = """\
import threading

import pytest
from counter import Counter

lock = threading.Lock()
totals = {}


def test_locked(thread_index):
    c = Counter()
    c.increment()
    with lock:
        totals[thread_index] = c.n


@pytest.mark.parametrize("n", [1, 2])
def test_parametrized(n, thread_comp):
    thread_comp(n=n)


@pytest.mark.thread_unsafe(reason="touches a global")
def test_unsafe():
    totals.clear()


def test_skipped():
    pytest.skip("not here")


@pytest.mark.xfail(reason="known bug", strict=True)
def test_known_bug():
    assert Counter().n == 1


def test_fails(tmp_path):
    assert not tmp_path.exists()
"""


def test_without_a_race_the_results_are_the_same(tmp_path: Path) -> None:
    """Passed, failed, skipped, xfailed and thread-unsafe tests read the
    same with and without ``--race``, with warnings as errors."""
    project(tmp_path, counter=LOCKED, test_mixed=MIXED)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n'
    )
    with_race = parallel(tmp_path, "-v")
    without = run_pytest(tmp_path, "--parallel-threads=4", "-v")
    assert "threadline race: Found 0 data race(s)" in with_race.stdout
    assert with_race.returncode == without.returncode == 1, with_race.stdout
    assert statuses(with_race.stdout) == statuses(without.stdout)
    assert len(statuses(without.stdout)) == 7
    summary = re.compile(r"^=+ (.*) in [\d.]+s", re.MULTILINE)
    assert summary.findall(with_race.stdout) == summary.findall(without.stdout)
    assert "Collected 6 items to run in parallel" in with_race.stdout


LAZY_MODULE = """\
TABLE = {}
TABLE["answer"] = 42
"""

LAZY_TEST = """\
def test_lazy_import():
    import lazy

    assert lazy.TABLE["answer"] == 42
"""


def test_a_module_imported_by_the_threads_at_once(tmp_path: Path) -> None:
    """The test's threads import a module for the first time at once: its
    body (run by one of them) happens before the others' imports return."""
    project(tmp_path, lazy=LAZY_MODULE, test_lazy=LAZY_TEST)
    result = parallel(tmp_path)
    assert "threadline race: Found 0 data race(s)" in result.stdout, result.stdout


def test_the_bundled_example(tmp_path: Path) -> None:
    """What ``make demo`` runs: examples/race/parallel races in counter.py."""
    shutil.copytree(EXAMPLE, tmp_path / "parallel")
    result = parallel(tmp_path / "parallel")
    assert result.returncode == 1, result.stdout
    assert "1 data race(s) during test_counter.py::test_increment:" in result.stdout
    assert RACE.search(result.stdout), result.stdout


ITERATIONS = """\
class Box:
    value = 0


box = Box()


def test_iterations(iteration_index, thread_index):
    if iteration_index == 0 and thread_index == 0:
        box.value = 1
    if iteration_index == 1 and thread_index == 1:
        assert box.value == 1  # after the barrier that starts iteration 1
"""


def test_the_barrier_between_iterations_orders_them(tmp_path: Path) -> None:
    """pytest-run-parallel's threads meet at a ``threading.Barrier`` before
    each iteration: what one thread did in an iteration comes before what
    every thread does in the next (the barrier is patched on its class, so
    the plugin's own, not instrumented, counts)."""
    project(tmp_path, test_iterations=ITERATIONS)
    result = run_pytest(tmp_path, "--parallel-threads=2", "--iterations=2", "--race")
    assert result.returncode == 0, result.stdout
    assert "threadline race: Found 0 data race(s)" in result.stdout
