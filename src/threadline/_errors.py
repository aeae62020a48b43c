"""Exceptions of the public API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core._scope import CancelScope

__all__ = ["Cancelled", "ChannelClosed", "DeadlockError"]


class ChannelClosed(Exception):
    """Send on a closed channel, or receive on a closed and drained one."""


class Cancelled(BaseException):
    """Raised at a blocking point inside a scope that was cancelled.

    It derives from ``BaseException`` so that ``except Exception`` does not
    swallow it. The scope that caught it on the way out stops it there.
    """

    def __init__(self, message: str = "cancelled", *, scope: CancelScope | None = None) -> None:
        super().__init__(message)
        self._scope = scope


class DeadlockError(RuntimeError):
    """Every thread is blocked for good in threadline operations, so none
    can ever wake another (Go's "all goroutines are asleep").

    Raised out of a task group whose owner (waiting at the end of the block,
    or blocked inside it) and tasks are all asleep, or out of the operation
    in which the main thread blocked for good.  ``blocked`` describes each
    such thread (its name, the operation it waits in, and where it was
    called from).
    """

    def __init__(self, message: str, blocked: list[Any]) -> None:
        super().__init__(message)
        self.blocked = blocked
