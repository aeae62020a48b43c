"""Module-level functions for the processes, interpreters and executor
backends: they are pickled by reference, so they must live in a module."""

from __future__ import annotations

import ctypes
import os
import signal
import time

from threadline import Cancelled


def square(x: int) -> int:
    return x * x


def whoami(x: int) -> tuple[int, int]:
    return os.getpid(), x


def whoami_slowly(x: int) -> tuple[int, int]:
    """Slow enough that every worker gets items."""
    time.sleep(0.01)
    return os.getpid(), x


def fail_at_7(x: int) -> int:
    if x == 7:
        raise ValueError(f"bad item {x}")
    return x


def exit_at_5(x: int) -> int:
    if x == 5:
        os._exit(3)
    time.sleep(0.001)
    return x


def sigkill_at_5(x: int) -> int:
    if x == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def segfault_at_5(x: int) -> int:
    if x == 5:
        ctypes.string_at(0)
    return x


def sleep_then_square(x: int) -> int:
    time.sleep(0.05)
    return x * x


def zero_fails_late(x: int) -> int:
    """Item 0 fails after the others have started sleeping for a long time."""
    if x == 0:
        time.sleep(0.3)
        raise KeyError("zero")
    time.sleep(60)
    return x


def sleep_long(x: int) -> int:
    time.sleep(60)
    return x


def unpicklable_result(x: int) -> object:
    if x == 3:
        return lambda: x
    return x


class Picky(Exception):
    """An exception that cannot be rebuilt from its args when unpickled."""

    def __init__(self, code: int, *, why: str) -> None:
        super().__init__(code)
        self.why = why


def raise_picky(x: int) -> int:
    if x == 2:
        raise Picky(x, why="needs a keyword")
    return x


def echo(x: bytes) -> bytes:
    return x


def repeat(blob: bytes, x: int) -> bytes:
    """With a large *blob* bound by functools.partial: a big fn, big results."""
    return blob * 2 + bytes([x])


def interrupt_at_7(x: int) -> int:
    if x == 7:
        raise KeyboardInterrupt(f"interrupted at {x}")
    return x


def exit_at_7(x: int) -> int:
    if x == 7:
        raise SystemExit(f"exit at {x}")
    return x


def cancelled_at_7(x: int) -> int:
    """As if fn returned ``t.result()`` of a task that was cancelled."""
    if x == 7:
        raise Cancelled(f"task for {x} was cancelled")
    return x
