"""pipeline: stages of pmap, joined lazily and bounded."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import threadline as tl

pytestmark = pytest.mark.timeout(30)


def stage(fn: Callable[[Any], Any], **kwargs: Any) -> tl.Stage:
    """These tests are about stages on threads (their functions are local)."""
    return tl.stage(fn, backend="threads", **kwargs)


def test_stages_apply_in_order() -> None:
    out = tl.pipeline(
        range(50), stage(lambda x: x + 1, workers=4), stage(lambda x: x * 10, workers=2)
    )
    assert list(out) == [(x + 1) * 10 for x in range(50)]


def test_unordered_stage() -> None:
    out = tl.pipeline(range(100), stage(lambda x: x * 2, workers=4, ordered=False))
    assert sorted(out) == [x * 2 for x in range(100)]


def test_infinite_source_and_bounded_intake() -> None:
    taken = 0

    def source() -> Iterator[int]:
        nonlocal taken
        for i in itertools.count():
            taken += 1
            yield i

    with tl.pipeline(source(), stage(str, workers=2), stage(len, workers=2)) as out:
        first = list(itertools.islice(out, 20))
    assert first == [len(str(i)) for i in range(20)]
    seen = taken
    time.sleep(0.1)
    assert taken == seen  # closed: nothing pulls from the source any more
    assert taken < 20 + 3 * (4 * 2 + 16)  # bounded by the windows of the stages


def test_failure_in_a_middle_stage_reaches_the_consumer_after_earlier_results() -> None:
    def check(x: int) -> int:
        if x == 7:
            raise ValueError("bad 7")
        return x

    got: list[int] = []
    with pytest.raises(ValueError, match="bad 7"):
        for r in tl.pipeline(range(100), stage(check, workers=3), stage(abs, workers=2)):
            got.append(r)
    assert got == list(range(7))


def test_close_stops_every_stage() -> None:
    running = 0
    lock = threading.Lock()

    def slow(x: int) -> int:
        nonlocal running
        with lock:
            running += 1
        try:
            tl.sleep(0.05 if x < 3 else 30)
            return x
        finally:
            with lock:
                running -= 1

    out = tl.pipeline(itertools.count(), stage(slow, workers=2), stage(slow, workers=2))
    assert next(out) == 0
    out.close()
    assert running == 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one stage"):
        tl.pipeline(range(3))
    with pytest.raises(TypeError, match=r"stage 1 must come from tl\.stage"):
        tl.pipeline(range(3), stage(abs), abs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fn must be callable, got 5"):
        tl.stage(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        tl.pipeline(range(3), stage(abs, workers=0))


def test_stage_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="ordered must be True or False, got 'no'"):
        tl.stage(str, ordered="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="window must be an int >= 1 or None, got 'x'"):
        tl.stage(str, window="x")  # type: ignore[arg-type]
