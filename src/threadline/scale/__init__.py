"""``threadline scale``: how one unit of work scales with 1..N threads and
processes, on each interpreter you have.

    threadline scale MODULE:FUNCTION [--workers 1,2,4] [--python PATH] \\
        [--scaling weak|strong] [--json FILE] [--plot FILE.png]

``threadline.scale.workloads`` holds bundled units of work that scale in
different ways.  Everything else in this package is private.
"""

from __future__ import annotations

__all__ = ["workloads"]

from . import workloads
