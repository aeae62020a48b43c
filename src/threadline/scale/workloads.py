"""Bundled units of work for ``threadline scale``: each is a function with
no arguments that does one unit, and each scales differently.

    threadline scale threadline.scale.workloads:cpu

- ``cpu``: pure-Python arithmetic.  Scales with threads only without the GIL.
- ``gil_releasing``: hashing a 1 MiB buffer; hashlib releases the GIL, so
  threads scale even on a GIL build.
- ``io_sleep``: 5 ms of ``time.sleep``; scales with threads everywhere,
  bounded only by how many workers there are.
- ``lock_contended``: every unit takes one process-wide lock around its
  work: no mode scales past one thread (processes each have their own lock).
- ``shared_dict``: updates to one dict shared by all threads (each
  update is atomic, so the result stays correct); contention on the dict
  limits threads without the GIL.
"""

from __future__ import annotations

import hashlib
import threading
import time

__all__ = ["cpu", "gil_releasing", "io_sleep", "lock_contended", "shared_dict"]

_BUFFER = bytes(range(256)) * 4096  # 1 MiB
_lock = threading.Lock()
_shared: dict[int, int] = {}


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def cpu() -> None:
    """About 1 ms of pure-Python arithmetic (on a 2020s CPU)."""
    _spin(20_000)


def gil_releasing() -> None:
    """SHA-256 of 1 MiB: C code that runs without the GIL."""
    hashlib.sha256(_BUFFER).digest()


def io_sleep() -> None:
    """5 ms of waiting, as for a network call."""
    time.sleep(0.005)


def lock_contended() -> None:
    """The same arithmetic as ``cpu``, a tenth of it, under one global lock."""
    with _lock:
        _spin(2_000)


def shared_dict() -> None:
    """A thousand updates to a dict every thread shares."""
    shared = _shared
    for i in range(1_000):
        key = i & 63
        shared[key] = shared.get(key, 0) + 1
