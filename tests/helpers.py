"""Helpers for tests that run code in several threads."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from threadline import Channel, ChannelClosed


def run_python(code: str, *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run *code* with ``python -c`` in a fresh interpreter; its output as text."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, check=False
    )


class Worker(threading.Thread):
    """A thread that keeps its function's result or exception for join_all."""

    def __init__(
        self, fn: Callable[..., Any], *args: Any, name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._fn(*self._args, **self._kwargs)
        except BaseException as exc:  # kept for join_all to re-raise
            self.error = exc


def spawn(fn: Callable[..., Any], *args: Any, name: str | None = None, **kwargs: Any) -> Worker:
    worker = Worker(fn, *args, name=name, **kwargs)
    worker.start()
    return worker


def join_all(workers: list[Worker], timeout: float = 30.0) -> list[Any]:
    """Join every worker; fail if one hangs; re-raise the first error."""
    for worker in workers:
        worker.join(timeout)
        if worker.is_alive():
            raise AssertionError(f"{worker.name} did not finish within {timeout}s")
    for worker in workers:
        if worker.error is not None:
            raise worker.error
    return [worker.result for worker in workers]


# -- channels -------------------------------------------------------------------

HANG_GUARD = 10.0
"""Seconds a test waits for something that should happen at once: long
enough never to fail a slow run, short enough to fail a hung one."""


def join(workers: list[Worker]) -> list[Any]:
    """join_all with the hang guard: a stuck thread fails the test, not the run."""
    return join_all(workers, timeout=HANG_GUARD)


def parked(ch: Channel[Any]) -> tuple[int, int]:
    """How many receivers and senders are parked on *ch* (a snapshot)."""
    with ch._lock:
        queues = (list(ch._recvq), list(ch._sendq))
    receivers, senders = (sum(not e.waiter.fired for e in queue) for queue in queues)
    return receivers, senders


def wait_parked(ch: Channel[Any], *, receivers: int = 0, senders: int = 0) -> None:
    """Wait until exactly this many receivers and senders are parked on *ch*."""
    deadline = time.monotonic() + HANG_GUARD
    while parked(ch) != (receivers, senders):
        if time.monotonic() > deadline:
            raise AssertionError(f"parked (receivers, senders) = {parked(ch)}")
        time.sleep(0.001)


def drain(*channels: Channel[Any]) -> list[Any]:
    """Everything buffered in *channels*, without blocking (checking each
    channel's invariants first)."""
    out = []
    for ch in channels:
        ch._check_invariants()
        while True:
            try:
                value, ok = ch.try_recv()
            except ChannelClosed:
                break
            if not ok:
                break
            out.append(value)
    return out


def check_exactly_once(expected: Iterable[Any], seen: list[list[Any]]) -> None:
    """Every expected value in exactly one list, once; nothing else; and in
    each list (one receiver), the ``(sender, seq)`` values of each sender in
    increasing order."""
    counts = Counter(value for values in seen for value in values)
    duplicated = sorted(value for value, count in counts.items() if count > 1)
    assert not duplicated, f"received more than once: {duplicated[:10]}"
    wanted = set(expected)
    missing = sorted(wanted - counts.keys())
    assert not missing, f"lost: {len(missing)} values, e.g. {missing[:10]}"
    extra = sorted(counts.keys() - wanted)
    assert not extra, f"received but never (successfully) sent: {extra[:10]}"
    for values in seen:
        last: dict[Any, int] = {}
        for sender, seq in values:
            assert seq > last.get(sender, -1), f"sender {sender}: {seq} after {last[sender]}"
            last[sender] = seq
