"""Bad arguments raise TypeError / ValueError naming the argument and the value.

Each check also makes sure that the bad call had no effect and did not block.
"""

from __future__ import annotations

import asyncio
import copy
import math
import pickle
import re
from collections.abc import Callable
from typing import Any

import pytest

import threadline as tl

pytestmark = pytest.mark.timeout(10)


def names(argument: str, value: object) -> str:
    """A pattern for a message naming *argument* and, after it, *value*."""
    return rf"{re.escape(argument)}\b.*{re.escape(repr(value))}"


# -- capacity -------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", ["3", None, True, False, 3j, [1], object()])
def test_capacity_of_wrong_type(capacity: object) -> None:
    with pytest.raises(TypeError, match=names("capacity", capacity)):
        tl.Channel(capacity)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=names("capacity", capacity)):
        tl.Channel(capacity=capacity)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "capacity", [-1, -(10**20), 1.5, 2.0, 0.0, float("nan"), -math.inf, math.nextafter(0, 1)]
)
def test_capacity_of_wrong_value(capacity: object) -> None:
    with pytest.raises(ValueError, match=names("capacity", capacity)):
        tl.Channel(capacity)  # type: ignore[arg-type]


@pytest.mark.parametrize("capacity", [0, 1, 10**6, math.inf])
def test_capacity_accepted(capacity: float) -> None:
    assert tl.Channel(capacity).capacity == capacity


# -- timeouts -----------------------------------------------------------------------------


def _unbuffered() -> tl.Channel[int]:
    return tl.Channel()


BLOCKING_CALLS: dict[str, tuple[str, Callable[[Any], object]]] = {
    "send": ("timeout", lambda t: _unbuffered().send(1, timeout=t)),
    "recv": ("timeout", lambda t: _unbuffered().recv(timeout=t)),
    "select": ("timeout", lambda t: tl.select(_unbuffered(), timeout=t)),
    "select-none": ("timeout", lambda t: tl.select(None, timeout=t)),
    "asend": ("timeout", lambda t: asyncio.run(_unbuffered().asend(1, timeout=t))),
    "arecv": ("timeout", lambda t: asyncio.run(_unbuffered().arecv(timeout=t))),
    "aselect": ("timeout", lambda t: asyncio.run(tl.aselect(_unbuffered(), timeout=t))),
    "sleep": ("seconds", tl.sleep),
    "timeout": ("seconds", tl.timeout),
    "CancelScope": ("timeout", lambda t: tl.CancelScope(timeout=t)),
}


@pytest.mark.parametrize("call", BLOCKING_CALLS.values(), ids=BLOCKING_CALLS.keys())
@pytest.mark.parametrize("bad", [-1, -0.001, -math.inf, float("nan")], ids=repr)
def test_timeout_of_wrong_value(call: tuple[str, Callable[[Any], object]], bad: float) -> None:
    argument, fn = call
    with pytest.raises(ValueError, match=names(argument, bad)):
        fn(bad)


@pytest.mark.parametrize("call", BLOCKING_CALLS.values(), ids=BLOCKING_CALLS.keys())
@pytest.mark.parametrize("bad", ["1", b"1", [1], True, 1j, object()], ids=repr)
def test_timeout_of_wrong_type(call: tuple[str, Callable[[Any], object]], bad: object) -> None:
    argument, fn = call
    with pytest.raises(TypeError, match=names(argument, bad)):
        fn(bad)


def test_bad_timeout_on_send_buffers_nothing() -> None:
    ch: tl.Channel[int] = tl.Channel(1)
    with pytest.raises(ValueError, match="timeout"):
        ch.send(1, timeout=-1)
    with pytest.raises(TypeError, match="timeout"):
        ch.send(1, timeout="1")  # type: ignore[arg-type]
    assert len(ch) == 0
    assert ch.try_recv() == (None, False)


def test_bad_timeout_on_recv_takes_nothing() -> None:
    ch: tl.Channel[int] = tl.Channel(1)
    ch.send(1)
    with pytest.raises(ValueError, match="timeout"):
        ch.recv(timeout=float("nan"))
    assert len(ch) == 1


def test_bad_timeout_on_select_has_no_effect() -> None:
    inbox: tl.Channel[int] = tl.Channel(1)
    inbox.send(1)
    outbox: tl.Channel[int] = tl.Channel(1)
    with pytest.raises(ValueError, match="timeout"):
        tl.select(inbox, (outbox, 2), timeout=-1)
    with pytest.raises(TypeError, match="timeout"):
        tl.select(inbox, (outbox, 2), timeout="soon")  # type: ignore[arg-type]
    assert (len(inbox), len(outbox)) == (1, 0)


def _holding(value: int) -> tl.Channel[int]:
    ch: tl.Channel[int] = tl.Channel(1)
    ch.send(value)
    return ch


def _finished_task() -> tl.Task[int]:
    tasks = []
    with tl.TaskGroup() as tg:
        tasks.append(tg.go(lambda: 1))
    return tasks[0]


@pytest.mark.parametrize(
    "what", ["send", "recv", "asend", "arecv", "WaitGroup.wait", "Task.result", "Task.exception"]
)
def test_timeouts_are_keyword_only(what: str) -> None:
    """Regression: ``ch.send(1, 2)`` silently meant a 2-second timeout."""
    empty: tl.Channel[int] = tl.Channel(1)
    full = _holding(7)
    calls: dict[str, Callable[[], object]] = {
        "send": lambda: empty.send(1, 2),  # type: ignore[call-arg]
        "recv": lambda: full.recv(2),  # type: ignore[call-arg]
        "asend": lambda: asyncio.run(empty.asend(1, 2)),  # type: ignore[call-arg]
        "arecv": lambda: asyncio.run(full.arecv(2)),  # type: ignore[call-arg]
        "WaitGroup.wait": lambda: tl.WaitGroup().wait(2),  # type: ignore[call-arg]
        "Task.result": lambda: _finished_task().result(2),  # type: ignore[call-arg]
        "Task.exception": lambda: _finished_task().exception(2),  # type: ignore[call-arg]
    }
    with pytest.raises(TypeError, match="positional"):
        calls[what]()
    assert (len(empty), len(full)) == (0, 1)  # the call had no effect


# -- select cases ---------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [None, 0, 0.01])
def test_select_without_cases(timeout: float | None) -> None:
    with pytest.raises(ValueError, match="case"):
        tl.select(timeout=timeout)
    with pytest.raises(ValueError, match="case"):
        asyncio.run(tl.aselect(timeout=timeout))


def test_try_select_without_cases() -> None:
    with pytest.raises(ValueError, match="case"):
        tl.try_select()


@pytest.mark.parametrize("count", [1, 3])
def test_select_with_only_none_and_no_timeout(count: int) -> None:
    cases = [None] * count
    with pytest.raises(ValueError, match="case"):
        tl.select(*cases)
    with pytest.raises(ValueError, match="case"):
        tl.select(*cases, timeout=None)
    with pytest.raises(ValueError, match="case"):
        asyncio.run(tl.aselect(*cases))


def _bad_cases() -> list[object]:
    ch: tl.Channel[int] = tl.Channel()
    return [
        5,
        "ch",
        [ch, 1],
        (ch,),
        (ch, 1, 2),
        (5, 1),
        ("ch", 1),
        (1, ch),
        {ch: 1},
        tl.Channel,
    ]


@pytest.mark.parametrize("bad", _bad_cases(), ids=repr)
@pytest.mark.parametrize("position", [0, 2])
def test_select_case_that_is_not_a_channel(bad: object, position: int) -> None:
    ch: tl.Channel[int] = tl.Channel(1)
    cases: list[object] = [(ch, 1), None]
    cases.insert(position, bad)
    pattern = names(f"case {position}", bad)
    with pytest.raises(TypeError, match=pattern):
        tl.select(*cases)
    with pytest.raises(TypeError, match=pattern):
        tl.select(*cases, timeout=0)
    with pytest.raises(TypeError, match=pattern):
        tl.try_select(*cases)
    with pytest.raises(TypeError, match=pattern):
        asyncio.run(tl.aselect(*cases))
    assert len(ch) == 0, "a select with a bad case must not perform its good cases"


def test_bad_case_is_reported_even_when_nothing_is_ready() -> None:
    unbuffered: tl.Channel[int] = tl.Channel()
    with pytest.raises(TypeError, match=names("case 1", 7)):
        tl.select(unbuffered, 7)


# -- sleep and timeout accept good values ------------------------------------------------------


@pytest.mark.parametrize("seconds", [0, 0.0, 0.001])
def test_sleep_accepts_small_numbers(seconds: float) -> None:
    tl.sleep(seconds)


def test_timeout_none_means_no_deadline() -> None:
    with tl.timeout(None):
        tl.sleep(0.001)


# -- primitives are shared, never copied -------------------------------------------------------


def _primitives() -> dict[str, Callable[[], object]]:
    return {
        "Channel": lambda: tl.Channel(1),
        "CancelScope": tl.CancelScope,
        "timeout": lambda: tl.timeout(1),
        "TaskGroup": tl.TaskGroup,
        "Task": _finished_task,
        "WaitGroup": tl.WaitGroup,
        "Once": tl.Once,
        "Guarded": lambda: tl.Guarded({}),
    }


@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
@pytest.mark.parametrize("kind", sorted(_primitives()))
def test_primitives_cannot_be_copied_or_pickled(kind: str, how: str) -> None:
    """Regression: ``copy.copy(ch)`` made a second channel sharing the first
    one's lock and queues (deepcopy and pickling already failed, naming the lock)."""
    obj = _primitives()[kind]()
    name = type(obj).__name__
    copiers: dict[str, Callable[[Any], object]] = {
        "copy": copy.copy,
        "deepcopy": copy.deepcopy,
        "pickle": pickle.dumps,
    }
    copier = copiers[how]
    verb = "pickle" if how == "pickle" else "copy"
    with pytest.raises(TypeError, match=rf"cannot {verb} '{name}' object"):
        copier(obj)
    if how != "copy":  # a deep copy or a pickle reaches it inside a container too
        with pytest.raises(TypeError, match=name):
            copier([obj])
