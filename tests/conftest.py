"""Shared fixtures: tiny switch interval, seeded select, no leaked threads."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest

from threadline import _channel, _select
from threadline._core._workers import IDLE_NAME


def pytest_report_header() -> str:
    path = "pure Python (THREADLINE_PURE=1 or not built)" if _channel.PURE else "compiled core"
    return f"threadline channels: {path}"


@pytest.fixture
def tiny_switch() -> Iterator[None]:
    """Make GIL builds switch threads at almost every bytecode."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@pytest.fixture(autouse=True)
def _seeded_select(request: pytest.FixtureRequest) -> None:
    """Seed select's random choice per test, so a failure can be replayed."""
    _select._rng.seed(request.node.nodeid)


def _idle_pool_worker(thread: threading.Thread) -> bool:
    return getattr(thread, "_threadline_worker", False) and thread.name == IDLE_NAME


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Every thread a test starts must be finished shortly after it ends."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0
    while True:
        leaked = [
            t
            for t in threading.enumerate()
            if t not in before and t.is_alive() and not _idle_pool_worker(t)
        ]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not leaked, f"threads still running after the test: {leaked}"
