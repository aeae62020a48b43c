"""asyncio, imported on first use.

Importing asyncio costs more than the rest of threadline together, and only
coroutines need it; when a coroutine calls in, it is loaded already.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio


def running_loop() -> asyncio.AbstractEventLoop:
    """``asyncio.get_running_loop()``."""
    import asyncio  # noqa: PLC0415  (deferred on purpose, see above)

    return asyncio.get_running_loop()


def loop_running_here() -> bool:
    """True if this thread is running an asyncio event loop (a coroutine or
    a callback of it called us).  Imports nothing: without asyncio loaded,
    no loop runs."""
    probe = _probe[0]
    if probe is None:
        asyncio = sys.modules.get("asyncio")
        if asyncio is None:
            return False
        probe = _probe[0] = asyncio._get_running_loop
    return probe() is not None


_probe: list[Callable[[], object] | None] = [None]  # asyncio._get_running_loop, once loaded
