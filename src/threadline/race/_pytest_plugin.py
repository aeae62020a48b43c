"""``pytest --race``: run the tests with race detection; a test during
which a race was found fails, with the race's report.

Registered as a pytest plugin (entry point ``pytest11``); without ``--race``
it only adds the option.  With it, modules under pytest's root folder that
are imported after start-up (test modules, and the project's modules they
import) are instrumented; test modules keep pytest's assertion rewriting.

Under ``threadline race -m pytest`` (a session already running), the plugin
puts that session's import hook before pytest's, before the first
``conftest.py`` is imported, so test modules and conftest files are both
instrumented and assertion-rewritten; ``--race`` then uses that session.
"""

from __future__ import annotations

import io
from collections.abc import Generator
from typing import Any

import pytest

from . import _importer, _session
from ._report import format_race
from ._session import Session

_KEY = pytest.StashKey[Session]()
_OWNED = pytest.StashKey[bool]()  # whether this plugin started the session
_SEEN = pytest.StashKey[int]()  # per test: how many races were reported before it


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("threadline")
    group.addoption(
        "--race",
        action="store_true",
        default=False,
        help="detect data races on Python-level shared state; a test that races fails",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    session = _session.active()
    if session is not None:  # pytest has installed its import hook by now
        _importer.install(session.finder)


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("race"):
        return
    session = _session.active()
    config.stash[_OWNED] = session is None
    if session is None:
        session = Session([str(config.rootpath)], out=io.StringIO())
        session.start()
    config.stash[_KEY] = session


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_KEY, None)
    if session is not None and config.stash.get(_OWNED, False):
        session.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    session = item.config.stash.get(_KEY, None)
    if session is not None and call.when == "setup":
        item.stash[_SEEN] = len(session.reporter.races)  # races before this test
    outcome = yield
    if session is None or call.when != "call":
        return
    report = outcome.get_result()
    new = session.reporter.races[item.stash.get(_SEEN, 0) :]
    item.stash[_SEEN] = len(session.reporter.races)
    if new and report.outcome != "failed":
        report.outcome = "failed"
        text = "\n".join(format_race(race) for race in new)
        report.longrepr = f"{len(new)} data race(s) during {item.nodeid}:\n{text}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = config.stash.get(_KEY, None)
    if session is not None:
        terminalreporter.write_line(f"threadline race: {session.reporter.summary()}")
