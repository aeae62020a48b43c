"""asyncio, imported on first use.

Importing asyncio costs more than the rest of threadline together, and only
coroutines need it; when a coroutine calls in, it is loaded already.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio


def running_loop() -> asyncio.AbstractEventLoop:
    """``asyncio.get_running_loop()``."""
    import asyncio  # noqa: PLC0415  (deferred on purpose, see above)

    return asyncio.get_running_loop()
