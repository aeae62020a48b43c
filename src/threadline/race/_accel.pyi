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
        *,
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

class Hooks:
    """The C twins of the hooks named in ``_hooks.Hooks._IN_C``."""

    def __init__(
        self,
        *,
        core: Core,
        py: Any,
        describe: Callable[[type, Any, Any], str],
        local_type: type,
        deque_type: type,
        containers: tuple[type, ...],
        lock_types: tuple[type, ...],
        plain_locks: frozenset[Any],
        tables: dict[type, Any],
        table_for: Callable[[type], Any],
        politely: Callable[[Any], Any],
        py_ri: Callable[..., Any],
        py_wi: Callable[..., Any],
        stack: Any,
        shape: str,
        all: str,
        moved: str,
        readers: frozenset[Any],
        py_call: Callable[..., Any],
        rname: str,
    ) -> None: ...
    def ra(self, obj: Any, name: str) -> Any: ...
    def wa(self, obj: Any, name: str, value: Any) -> None: ...
    def sa(self, value: Any, obj: Any, name: str) -> None: ...
    def ra_push(self, obj: Any, name: str) -> Any: ...
    def wa_top(self, value: Any) -> None: ...
    def ri(self, obj: Any, key: Any) -> Any: ...
    def wi(self, obj: Any, key: Any, value: Any) -> None: ...
    def si(self, value: Any, obj: Any, key: Any) -> None: ...
    def ri_push(self, obj: Any, key: Any) -> Any: ...
    def wi_top(self, value: Any) -> None: ...
    def rgv(self, namespace: dict[str, Any], name: str, value: Any) -> Any: ...
    def wgv(self, namespace: dict[str, Any], name: str, value: Any) -> Any: ...
    def rg(self, namespace: dict[str, Any], name: str) -> None: ...
    def wg(self, namespace: dict[str, Any], name: str) -> None: ...
    def it(self, obj: Any) -> Any: ...
    def whole(self, obj: Any) -> None: ...
    def isin(self, item: Any, container: Any) -> bool: ...
    def m(self, obj: Any, name: str) -> Any: ...
    def cm(self, obj: Any) -> Any: ...
    def call(self, fn: Any) -> Any: ...
    def _len(self, obj: Any) -> int: ...
