"""Helpers for tests that run code in several threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Worker(threading.Thread):
    """A thread that keeps its function's result or exception for join_all."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self._fn = fn
        self._args = args
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._fn(*self._args)
        except BaseException as exc:  # kept for join_all to re-raise
            self.error = exc


def spawn(fn: Callable[..., Any], *args: Any, name: str | None = None) -> Worker:
    worker = Worker(fn, *args, name=name)
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
