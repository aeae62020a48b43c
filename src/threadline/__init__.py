"""threadline: channels, select, structured tasks and tools for free-threaded Python.

PYTEST_DONT_REWRITE: pytest would rewrite this package's asserts (it ships a
pytest plugin), and warns when it was imported first, as under
``threadline race -m pytest``.
"""

import importlib as _importlib
import typing as _typing

from ._channel import Channel
from ._core._scope import CancelScope, checkpoint, move_on_after, sleep, timeout
from ._errors import Cancelled, ChannelClosed, DeadlockError
from ._select import Selected, aselect, select, try_select
from ._sync import Guarded, Once, WaitGroup
from ._tasks import Task, TaskGroup

__version__ = "0.1.0"

__all__ = [
    "CancelScope",
    "Cancelled",
    "Channel",
    "ChannelClosed",
    "DeadlockError",
    "Guarded",
    "Once",
    "PMap",
    "Pipeline",
    "Selected",
    "Stage",
    "Task",
    "TaskGroup",
    "WaitGroup",
    "aselect",
    "checkpoint",
    "move_on_after",
    "pipeline",
    "pmap",
    "select",
    "sleep",
    "stage",
    "timeout",
    "try_select",
]


# Data parallelism loads on first use: it brings in multiprocessing and
# concurrent.futures, which a program using only channels and tasks (or the
# race detector, before the program runs) need not pay for.
_LAZY = {
    "PMap": "_pmap",
    "pmap": "_pmap",
    "Pipeline": "_pipeline",
    "Stage": "_pipeline",
    "pipeline": "_pipeline",
    "stage": "_pipeline",
}

if _typing.TYPE_CHECKING:
    from ._parallel._pipeline import Pipeline, Stage, pipeline, stage
    from ._parallel._pmap import PMap, pmap


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'threadline' has no attribute {name!r}")
    for attr, value in vars(_importlib.import_module(f"._parallel.{module}", __name__)).items():
        if _LAZY.get(attr) == module:
            _claim(value)
            globals()[attr] = value
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def _claim(obj: object) -> None:
    # Tracebacks and reprs show threadline.Channel, not threadline._channel.Channel.
    if getattr(obj, "__module__", "").startswith("threadline."):
        obj.__module__ = "threadline"


for _name in __all__:
    if _name not in _LAZY:
        _claim(globals()[_name])
del _name
