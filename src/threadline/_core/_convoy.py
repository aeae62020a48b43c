"""Taking a lock without starting a lock convoy.

On a GIL build a thread can lose the GIL while it holds a lock.  A thread
that then blocks on that lock is handed it on release while it sleeps
waiting for the GIL, and from there on threads that take turns at the lock
keep handing it to each other: every acquisition costs two context
switches.  Yielding once before queuing lets the holder finish instead.
"""

from __future__ import annotations

import time
from typing import Any


def acquire_politely(lock: Any) -> None:
    """``lock.acquire()``, but yield the interpreter once if it is taken."""
    if not lock.acquire(False):
        time.sleep(0)
        lock.acquire()
