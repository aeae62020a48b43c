"""``threadline race``: happens-before race detection on Python-level
shared state (attributes, items, globals, closure variables).

    threadline race SCRIPT [ARGS...]
    threadline race -m MODULE [ARGS...]

The program and the modules under its folder are loaded with an AST
rewrite that reports each access to the detector (``_rewrite``; the hooks
it calls: ``_hooks``, with ``_locations`` and ``_methods``);
synchronisation (locks, conditions, events, semaphores, barriers, queues,
thread start and join) moves vector clocks between threads
(``_detector``); the hottest of both have a C twin, ``_accel``
(optional).  A race is reported with both accesses' stacks and threads;
the exit status is 66 when a race was found.
"""

from __future__ import annotations

__all__: list[str] = []
