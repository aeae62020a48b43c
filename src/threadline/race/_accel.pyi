from collections.abc import Callable
from typing import Any

class ThreadInfo:
    slot: int
    name: str
    created_at: Any
    vc: dict[int, int]
    cached_frame: Any
    cached_callers: Any
    cached_raws: dict[int, Any]
    last_read: Any
    last_write: Any
    cached_code: Any
    cached_parent: Any
    cached_parent_lasti: Any
    def __init__(self, slot: int, name: str, created_at: Any, vc: dict[int, int] = ...) -> None: ...

class Location:
    what: Any
    write: Any
    reads: dict[int, Any]
    @property
    def owner(self) -> Any: ...
    def __init__(self, what: Any, owner: Any) -> None: ...

class Core:
    def __init__(
        self,
        detector: Any,
        threads: dict[int, Any],
        shadow: dict[tuple[int, Any], Any],
        dead: Any,
        sync: dict[int, dict[int, int]],
        sync_keep: dict[int, Any],
        own_prefix: str,
        stripes: int,
        objects: dict[int, list[Any]],
        kept: dict[int, Any],
        watch_type: type,
        sweep_every: int,
        handoff: dict[int, tuple[dict[int, int], dict[int, int]]],
    ) -> None: ...
    def access(
        self,
        obj: Any,
        key: Any,
        write: bool,
        describe: Callable[[type, Any, Any], str],
        atomic: bool = False,
        seen: dict[int, int] | None = None,
    ) -> None: ...
    def stored(self, value: Any) -> bool: ...
    def tick(self) -> None: ...
    def fetched(
        self, value: Any, holder: Any = None, taken: bool = False
    ) -> dict[int, int] | None: ...
    def acquire(self, obj: Any) -> None: ...
    def clock_of(self, obj: Any) -> dict[int, int]: ...
    def release(self, obj: Any) -> None: ...
