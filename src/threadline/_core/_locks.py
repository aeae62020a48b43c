"""Locks that a Ctrl-C cannot strand.

Python runs signal handlers (Ctrl-C's ``KeyboardInterrupt``) in the main
thread, between bytecodes.  A handler that raises after a lock was taken but
before the ``try`` or ``with`` block that releases it leaks the lock, and
every thread that needs it later hangs.  There are two such gaps:

  * right after an explicit ``lock.acquire()`` returns (every version);
  * on CPython 3.14, right after a C ``__enter__`` returns: its ``with``
    statement calls ``__enter__`` outside the protected block (gh-148874).

Every lock of the runtime is a ``SafeLock``: a re-entrant lock that
threadline never takes re-entrantly, used in one of two ways.

  * ``with lock:`` -- ``__enter__`` is written in Python and takes the lock
    inside a ``try`` of its own (returning from a Python function leaves no
    gap), and ``__exit__`` is the C ``release``.
  * Hot paths take it with ``acquire()`` inside a ``try`` whose handler
    gives it back (see ``Channel.send``)::

        try:
            lock.acquire()
            ...
            lock.release()
        except BaseException:
            try:
                lock.release()    # runs before any point a handler can run
            except RuntimeError:  # not held: the interrupt came before
                pass
            raise

    The handler need not know whether the interrupt landed before or after
    the acquire: a re-entrant lock refuses (``RuntimeError``, no effect) to
    be released by a thread that does not hold it.  This costs nothing
    until something is raised.
"""

from __future__ import annotations

import _thread


class SafeLock(_thread.RLock):  # type: ignore[misc]  # final in typeshed only
    """A lock whose ``with`` block no interrupt can leave locked (see above)."""

    __slots__ = ()

    def __enter__(self, blocking: bool = True, timeout: float = -1) -> bool:
        try:
            self.acquire(blocking, timeout)
        except BaseException:
            try:
                self.release()
            except RuntimeError:  # the interrupt came before the lock was taken
                pass
            raise
        return True

    def locked(self) -> bool:
        """True if some thread holds the lock (a snapshot, for tests and
        diagnostics)."""
        if self._is_owned():  # type: ignore[attr-defined]
            return True
        if self.acquire(False):
            self.release()
            return False
        return True
