"""``pytest --race``: run the tests with race detection; a test during
which a race was found fails, with the race's report.

Registered as a pytest plugin (entry point ``pytest11``); without ``--race``
it only adds the option.  With it, the session starts before pytest imports
the first ``conftest.py``, so modules under pytest's root folder imported
from then on (conftest files and their fixtures, test modules, and the
project's modules they import) are instrumented; conftest files and test
modules keep pytest's assertion rewriting.  A race found during a test's
setup, call or teardown fails that phase (a setup or teardown error);
where the phase failed already, the report is added to its failure.

Under ``threadline race -m pytest`` (a session already running), the plugin
puts that session's import hook before pytest's, before the first
``conftest.py`` is imported, so test modules and conftest files are both
instrumented and assertion-rewritten; ``--race`` then uses that session.

pytest-run-parallel (``--parallel-threads=N``) needs nothing more: it runs
a test's function in N plain threads, started after the setup in the main
thread and joined before the teardown, and those starts and joins are
happens-before edges of every session.  Its ``thread_comp`` fixture makes
the threads wait at a barrier in code that is not instrumented, then one
thread compares the values all threads passed; that barrier is made an
edge here, so the comparison is ordered after every thread's values.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Generator
from typing import Any

import pytest

from . import _importer, _session
from ._detector import Detector
from ._report import format_race
from ._session import Session

_KEY = pytest.StashKey[Session]()
_OWNED = pytest.StashKey[bool]()  # whether this plugin started the session
_SEEN = pytest.StashKey[int]()  # per test: how many races were reported before this phase


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("threadline")
    group.addoption(
        "--race",
        action="store_true",
        default=False,
        help="detect data races on Python-level shared state; a test that races fails",
    )


def _start(config: pytest.Config) -> None:
    """Start the session of ``--race``, or use the one already running."""
    session = _session.active()
    config.stash[_OWNED] = session is None
    if session is None:
        session = Session([str(config.rootpath)], out=io.StringIO())
        session.start()
    config.stash[_KEY] = session
    config.add_cleanup(lambda: _stop(config))


def _stop(config: pytest.Config) -> None:
    session = config.stash.get(_KEY, None)
    if session is not None:
        del config.stash[_KEY]
        if config.stash.get(_OWNED, False):
            session.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    session = _session.active()
    if session is not None:  # pytest has installed its import hook by now
        _importer.install(session.finder)
    elif getattr(early_config.known_args_namespace, "race", False):
        _start(early_config)  # before the first conftest.py is imported
    try:
        return (yield)
    except BaseException:  # pytest.main() returns without unconfiguring
        _stop(early_config)
        raise


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("race") and _KEY not in config.stash:
        _start(config)  # the plugin was registered after the initial conftests


class _SeenBarrier:
    """A ``threading.Barrier`` whose ``wait`` is an edge: what a thread did
    before it happens before what every thread does after it."""

    def __init__(self, barrier: threading.Barrier, detector: Detector) -> None:
        self._barrier = barrier
        self._detector = detector

    def wait(self, timeout: float | None = None) -> int:
        self._detector.release(self)
        index = self._barrier.wait(timeout)
        self._detector.acquire(self)
        return index

    def __getattr__(self, name: str) -> Any:
        return getattr(self._barrier, name)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    value = yield
    session = request.config.stash.get(_KEY, None) or _session.active()
    module = sys.modules.get("pytest_run_parallel.thread_comparator")
    if session is not None and module is not None and isinstance(value, module.ThreadComparator):
        # the barrier after which one thread reads every thread's values
        barrier = getattr(value, "_barrier", None)
        if isinstance(barrier, threading.Barrier):
            value._barrier = _SeenBarrier(barrier, session.detector)
    return value


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    session = item.config.stash.get(_KEY, None)
    if session is not None:  # before any fixture runs
        item.stash[_SEEN] = len(session.reporter.races)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    session = item.config.stash.get(_KEY, None)
    seen = item.stash.get(_SEEN, None)
    if session is None or seen is None:
        return report
    new = session.reporter.races[seen:]
    item.stash[_SEEN] = seen + len(new)
    if new:
        text = "\n".join(format_race(race) for race in new)
        text = f"{len(new)} data race(s) during {item.nodeid}:\n{text}"
        add_section = getattr(report.longrepr, "addsection", None)
        if report.outcome != "failed":
            report.outcome = "failed"
            report.longrepr = text
        elif add_section is not None:  # an exception's report: shown with it
            add_section("threadline race", text)
        else:
            report.sections.append(("threadline race", text))
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = config.stash.get(_KEY, None)
    if session is not None:
        terminalreporter.write_line(f"threadline race: {session.reporter.summary()}")
