"""``pytest --race``: a test during which a race happens fails and names
it; other tests pass; without ``--race`` nothing changes."""

from __future__ import annotations

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
