"""pmap's ``"interpreters"`` backend for real: sub-interpreters from
``concurrent.futures.InterpreterPoolExecutor``, Python 3.14 and later.

Written against the public API only. The functions below run inside the
worker interpreters, which import this module by name to find them.
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import threadline as tl

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 14),
    reason="backend='interpreters' needs Python 3.14+ (concurrent.futures."
    f"InterpreterPoolExecutor); this is Python {sys.version.split()[0]}",
)


def square(x: int) -> int:
    return x * x


def shout(word: str) -> tuple[str, int]:
    return word.upper(), len(word)


def where(x: int) -> tuple[int, int, int]:
    """The process and interpreter that ran the call."""
    return os.getpid(), interpreter_id(), x


def interpreter_id() -> int:
    interpreters = importlib.import_module("concurrent.interpreters")
    return int(interpreters.get_current().id)


def fail_at_7(x: int) -> int:
    if x == 7:
        raise ValueError(f"bad item {x}")
    return x


def unpicklable_result(x: int) -> object:
    return threading.Lock() if x == 3 else x


def test_results_equal_the_builtin_map() -> None:
    items = list(range(300))
    assert list(tl.pmap(square, items, backend="interpreters", workers=2)) == list(
        map(square, items)
    )
    words = ["pmap", "in", "sub", "interpreters", ""] * 20
    assert list(tl.pmap(shout, words, backend="interpreters", workers=2)) == list(map(shout, words))


def test_unordered_results_are_the_same_results() -> None:
    out = list(tl.pmap(square, range(200), backend="interpreters", workers=2, ordered=False))
    assert sorted(out) == list(map(square, range(200)))


def test_calls_run_in_other_interpreters_of_this_process() -> None:
    here = interpreter_id()
    out = list(tl.pmap(where, range(50), backend="interpreters", workers=2))
    assert [x for _, _, x in out] == list(range(50))
    assert {pid for pid, _, _ in out} == {os.getpid()}
    assert here not in {interp for _, interp, _ in out}


def test_an_infinite_input_and_leaving_early() -> None:
    with tl.pmap(square, itertools.count(), backend="interpreters", workers=2) as results:
        first = list(itertools.islice(results, 30))
    assert first == [x * x for x in range(30)]


def test_an_exception_in_fn_reaches_the_consumer_after_the_earlier_results() -> None:
    got: list[int] = []
    with pytest.raises(ValueError, match="bad item 7"):
        for r in tl.pmap(fail_at_7, range(100), backend="interpreters", workers=2):
            got.append(r)
    assert got == list(range(7))


def test_a_fn_that_cannot_be_sent_is_a_clear_error_before_any_work() -> None:
    taken: list[int] = []

    def items() -> Iterator[int]:
        for x in range(10):
            taken.append(x)
            yield x

    def nested(x: int) -> int:
        return x

    fns: list[Callable[[int], int]] = [lambda x: x, nested]
    for fn in fns:
        with pytest.raises(TypeError) as info:
            list(tl.pmap(fn, items(), backend="interpreters", workers=2))
        message = str(info.value)
        assert fn.__qualname__ in message, message
        assert "pickle" in message, message
    assert taken == []


def test_an_item_that_cannot_be_sent_fails_that_item() -> None:
    got: list[int] = []
    items: list[Any] = [1, 2, threading.Lock(), 4]
    with pytest.raises(TypeError) as info:
        for r in tl.pmap(square, items, backend="interpreters", workers=2):
            got.append(r)
    assert got == [1, 4]
    message = str(info.value)
    assert "item 2" in message, message
    assert "pickle" in message, message


def test_a_result_that_cannot_be_sent_back_fails_that_item() -> None:
    got: list[object] = []
    with pytest.raises(TypeError) as info:
        for r in tl.pmap(unpicklable_result, range(6), backend="interpreters", workers=2):
            got.append(r)
    assert got == [0, 1, 2]
    message = str(info.value)
    assert "item 3" in message, message
    assert "pickle" in message, message
