"""Primitives are shared, never copied.

A channel, a scope, a task or a lock-like helper *is* its identity: threads
meet on that one object.  A copy would share its lock and queues with the
original (``copy.copy``) or start out of step with it, so copying raises
``TypeError``, as pickling does.
"""

from __future__ import annotations

from typing import Any, NoReturn


class NoCopy:
    """Mixin: ``copy.copy``, ``copy.deepcopy`` and pickling raise ``TypeError``."""

    __slots__ = ()

    def __copy__(self) -> NoReturn:
        raise TypeError(f"cannot copy {type(self).__name__!r} object: share it instead")

    def __deepcopy__(self, memo: Any) -> NoReturn:
        raise TypeError(f"cannot copy {type(self).__name__!r} object: share it instead")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")
