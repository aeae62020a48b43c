"""``pytest --race``: a test during which a race happens fails and names
it; other tests pass; without ``--race`` nothing changes."""

from __future__ import annotations

import sys

import pytest

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.timeout(120)

TESTS = """
import threading


class C:
    n = 0


def run_twice(work):
    ts = [threading.Thread(target=work) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def test_racy():
    c = C()

    def work():
        c.n += 1

    run_twice(work)


def test_locked():
    c = C()
    lock = threading.Lock()

    def work():
        with lock:
            c.n += 1

    run_twice(work)
    assert c.n == 2
"""


def test_race_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=TESTS)
    result = pytester.runpytest_subprocess("--race", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*1 data race(s) during test_sample.py::test_racy:*",
            "*WARNING: DATA RACE*",
            "*threadline race: Found 1 data race(s)*",
            "FAILED test_sample.py::test_racy*",
        ]
    )


def test_without_the_option_nothing_changes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert "DATA RACE" not in result.stdout.str()


CONFTEST = """
import sys

import pytest


class Box:
    n = 0


@pytest.fixture
def bumped_twice():
    import threading

    box = Box()

    def bump():
        box.n = 2  # races: no lock (not +=, whose update a free-threaded build can lose)

    ts = [threading.Thread(target=bump) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return box
"""

MORE_TESTS = """
\"\"\"pytest puts its imports after the docstring and __future__ imports.\"\"\"

from __future__ import annotations


def test_uses_the_conftest(bumped_twice):
    assert bumped_twice.n == 2


def test_assert_explained():
    assert [1, 2] == [1, 3]
"""

WARNINGS_ARE_ERRORS = """
[tool.pytest.ini_options]
filterwarnings = ["error"]
"""


def race_pytest(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """``threadline race -m pytest ARGS``, in pytester's folder."""
    return pytester.run(
        sys.executable, "-m", "threadline", "race", "-m", "pytest", "-p", "no:cacheprovider", *args
    )


def test_threadline_race_dash_m_pytest(pytester: pytest.Pytester) -> None:
    """The test modules and conftest.py are instrumented and keep pytest's
    assertion rewriting; races are reported as found, past pytest's capture;
    pytest's outcome is as without the detector."""
    pytester.makepyprojecttoml(WARNINGS_ARE_ERRORS)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sample=TESTS, test_more=MORE_TESTS)
    plain = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    plain.assert_outcomes(passed=3, failed=1)
    result = race_pytest(pytester)
    result.assert_outcomes(passed=3, failed=1)
    assert result.ret == 66
    result.stdout.fnmatch_lines(["*At index 1 diff: 2 != 3*"])
    err = result.stderr.str()
    assert err.count("WARNING: DATA RACE") == 2
    assert "test_sample.py:" in err  # test_racy
    assert "conftest.py:" in err  # the fixture
    assert err.rstrip().endswith("Found 2 data race(s)")
    assert "PytestAssertRewriteWarning" not in result.stdout.str() + err


def test_warnings_as_errors_do_not_abort(pytester: pytest.Pytester) -> None:
    """pytest marks threadline (it ships a plugin) for assertion rewriting;
    the command had imported it already, and pytest's warning about that
    aborted projects that turn warnings into errors."""
    pytester.makepyprojecttoml(WARNINGS_ARE_ERRORS)
    pytester.makepyfile(test_ok="def test_ok():\n    assert True\n")
    result = race_pytest(pytester, "-W", "error")
    result.assert_outcomes(passed=1)
    assert result.ret == 0


def test_race_option_under_the_command_uses_its_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=TESTS)
    result = race_pytest(pytester, "--race")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*1 data race(s) during test_sample.py::test_racy:*"])
    assert result.ret == 66
    assert result.stderr.str().count("WARNING: DATA RACE") == 1
