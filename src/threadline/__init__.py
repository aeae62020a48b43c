"""threadline: channels, select, structured tasks and tools for free-threaded Python."""

from ._channel import Channel
from ._core._scope import CancelScope, checkpoint, sleep, timeout
from ._errors import Cancelled, ChannelClosed, DeadlockError
from ._parallel._pipeline import Pipeline, Stage, pipeline, stage
from ._parallel._pmap import PMap, pmap
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
    "pipeline",
    "pmap",
    "select",
    "sleep",
    "stage",
    "timeout",
    "try_select",
]


def _fix_module_names() -> None:
    # Tracebacks and reprs show threadline.Channel, not threadline._channel.Channel.
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("threadline."):
            obj.__module__ = "threadline"


_fix_module_names()
del _fix_module_names
