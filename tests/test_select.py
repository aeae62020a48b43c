"""Unit tests of select, try_select and aselect against the contract.

As in test_channel, the only private state observed is a channel's wait
queues (to know that a select is parked) and, in the atomicity tests, its
lock (to run a partner at an exact point of a poll).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pytest

import threadline as tl
from tests.helpers import join, spawn, wait_parked

HANG_GUARD = 10.0


def filled(values: Iterable[Any]) -> tl.Channel[Any]:
    ch: tl.Channel[Any] = tl.Channel(math.inf)
    for value in values:
        ch.send(value)
    return ch


def chi_square(counts: Counter[int], categories: list[int], trials: int) -> float:
    expected = trials / len(categories)
    assert set(counts) <= set(categories), counts
    return sum((counts[c] - expected) ** 2 / expected for c in categories)


# -- basic cases ---------------------------------------------------------------------


def test_receive_case() -> None:
    ch = filled(["x"])
    sel = tl.select(ch)
    assert isinstance(sel, tl.Selected)
    assert (sel.index, sel.value, sel.ok) == (0, "x", True)
    assert sel == (0, "x", True)
    assert len(ch) == 0


def test_send_case_completed_gives_none_and_ok() -> None:
    ch: tl.Channel[str] = tl.Channel(1)
    index, value, ok = tl.select((ch, "y"))
    assert (index, value, ok) == (0, None, True)
    assert ch.try_recv() == ("y", True)


def test_receive_of_none_value_is_ok() -> None:
    assert tl.select(filled([None])) == (0, None, True)


@pytest.mark.parametrize("nones_before", [1, 2, 5])
def test_none_cases_keep_their_index(nones_before: int) -> None:
    ch = filled([1])
    out: tl.Channel[int] = tl.Channel(1)
    assert tl.select(*[None] * nones_before, ch, None).index == nones_before
    assert tl.select(None, *[None] * nones_before, (out, 2)).index == nones_before + 1
    assert out.try_recv() == (2, True)


def test_unready_cases_are_not_chosen() -> None:
    ready = filled(range(100))
    empty: tl.Channel[int] = tl.Channel(1)
    unbuffered: tl.Channel[int] = tl.Channel()
    full = filled([0])
    full_one: tl.Channel[int] = tl.Channel(1)
    full_one.send(0)
    for _ in range(100):
        sel = tl.select(empty, unbuffered, (unbuffered, 1), None, (full_one, 2), ready)
        assert sel.index == 5
    assert len(full) == 1
    assert len(full_one) == 1


# -- exactly one case takes effect ------------------------------------------------------


def test_exactly_one_receive_takes_effect() -> None:
    channels = [filled(range(50)) for _ in range(3)]
    for trial in range(1, 51):
        tl.select(*channels)
        assert sum(len(ch) for ch in channels) == 3 * 50 - trial


def test_exactly_one_send_takes_effect() -> None:
    channels: list[tl.Channel[int]] = [tl.Channel(math.inf) for _ in range(3)]
    for trial in range(1, 51):
        sel = tl.select(*[(ch, i) for i, ch in enumerate(channels)])
        assert sum(len(ch) for ch in channels) == trial
        assert channels[sel.index].try_recv() == (sel.index, True)
        channels[sel.index].send(sel.index)


def test_exactly_one_of_mixed_cases_takes_effect() -> None:
    for _ in range(50):
        inbox = filled(["in"])
        outbox: tl.Channel[str] = tl.Channel(1)
        sel = tl.select(inbox, (outbox, "out"))
        if sel.index == 0:
            assert (sel.value, len(inbox), len(outbox)) == ("in", 0, 0)
        else:
            assert (sel.value, len(inbox), len(outbox)) == (None, 1, 1)


@pytest.mark.timeout(30)
def test_partner_completes_exactly_one_parked_case() -> None:
    a: tl.Channel[int] = tl.Channel()
    b: tl.Channel[int] = tl.Channel()
    worker = spawn(lambda: tl.select(a, b, timeout=HANG_GUARD))
    wait_parked(a, receivers=1)
    wait_parked(b, receivers=1)
    assert a.try_send(1)
    assert not b.try_send(2)
    assert join([worker]) == [(0, 1, True)]
    wait_parked(b)


@pytest.mark.timeout(30)
def test_concurrent_selects_take_each_value_exactly_once(tiny_switch: None) -> None:
    a: tl.Channel[int] = tl.Channel()
    b: tl.Channel[int] = tl.Channel(2)

    def producer(ch: tl.Channel[int], values: range) -> None:
        with ch:
            for value in values:
                ch.send(value, timeout=HANG_GUARD)

    def consumer() -> list[int]:
        got = []
        cases: list[tl.Channel[int] | None] = [a, b]
        while any(case is not None for case in cases):
            sel = tl.select(*cases, timeout=HANG_GUARD)
            if sel.ok:
                got.append(sel.value)
            else:
                cases[sel.index] = None
        return got

    consumers = [spawn(consumer) for _ in range(3)]
    join([spawn(producer, a, range(300)), spawn(producer, b, range(1000, 1300))])
    received = [v for values in join(consumers) for v in values]
    assert sorted(received) == [*range(300), *range(1000, 1300)]


# -- closed channels ----------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, 1, math.inf])
def test_closed_drained_receive_is_ready_with_ok_false(capacity: float) -> None:
    ch: tl.Channel[int] = tl.Channel(capacity)
    ch.close()
    never: tl.Channel[int] = tl.Channel()
    assert tl.select(ch) == (0, None, False)
    assert tl.select(never, None, ch) == (2, None, False)
    assert tl.select(ch, timeout=0) == (0, None, False)
    assert tl.try_select(ch) == (0, None, False)


def test_closed_channel_gives_buffered_values_first() -> None:
    ch = filled([1, 2])
    ch.close()
    assert [tl.select(ch) for _ in range(3)] == [(0, 1, True), (0, 2, True), (0, None, False)]


@pytest.mark.parametrize("capacity", [0, 1, math.inf])
def test_send_case_to_closed_channel_raises(capacity: float) -> None:
    ch: tl.Channel[int] = tl.Channel(capacity)
    ch.close()
    never: tl.Channel[int] = tl.Channel()
    with pytest.raises(tl.ChannelClosed):
        tl.select((ch, 1))
    with pytest.raises(tl.ChannelClosed):
        tl.select(never, None, (ch, 1), timeout=HANG_GUARD)
    with pytest.raises(tl.ChannelClosed):
        tl.try_select((ch, 1))
    wait_parked(never)


@pytest.mark.timeout(30)
def test_parked_receive_case_woken_by_close() -> None:
    a: tl.Channel[int] = tl.Channel()
    b: tl.Channel[int] = tl.Channel(2)
    worker = spawn(lambda: tl.select(a, None, b, timeout=HANG_GUARD))
    wait_parked(b, receivers=1)
    b.close()
    assert join([worker]) == [(2, None, False)]
    wait_parked(a)
    assert not a.try_send(1)


@pytest.mark.timeout(30)
def test_parked_send_case_woken_by_close_raises() -> None:
    a: tl.Channel[int] = tl.Channel()
    b: tl.Channel[int] = tl.Channel()
    worker = spawn(lambda: tl.select(a, (b, 1), timeout=HANG_GUARD))
    wait_parked(b, senders=1)
    b.close()
    worker.join(HANG_GUARD)
    assert isinstance(worker.error, tl.ChannelClosed)
    wait_parked(a)
    assert not a.try_send(1)


# -- timeouts -------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [0, 0.02])
def test_timeout_raises_and_has_no_effect(timeout: float) -> None:
    a: tl.Channel[int] = tl.Channel()
    b: tl.Channel[int] = tl.Channel()
    full: tl.Channel[int] = tl.Channel(1)
    full.send(0)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        tl.select(a, (b, 1), (full, 2), None, timeout=timeout)
    assert time.monotonic() - start >= timeout
    for ch in (a, b, full):
        wait_parked(ch)
    assert not a.try_send(1)
    assert b.try_recv() == (None, False)
    assert full.try_recv() == (0, True)
    assert full.try_recv() == (None, False)


@pytest.mark.parametrize("cases", [(None,), (None, None)])
def test_select_with_no_channel_and_a_timeout_times_out(cases: tuple[None, ...]) -> None:
    with pytest.raises(TimeoutError):
        tl.select(*cases, timeout=0.01)
    with pytest.raises(TimeoutError):
        tl.select(*cases, timeout=0)


def test_ready_case_wins_over_timeout_zero() -> None:
    assert tl.select(tl.Channel(), filled([5]), timeout=0) == (1, 5, True)


@pytest.mark.timeout(30)
def test_partner_before_timeout_wins() -> None:
    ch: tl.Channel[int] = tl.Channel()
    worker = spawn(lambda: tl.select(ch, timeout=HANG_GUARD))
    wait_parked(ch, receivers=1)
    ch.send(9, timeout=HANG_GUARD)
    assert join([worker]) == [(0, 9, True)]


# -- try_select -------------------------------------------------------------------------------


def test_try_select_returns_none_when_nothing_is_ready() -> None:
    a: tl.Channel[int] = tl.Channel()
    full: tl.Channel[int] = tl.Channel(1)
    full.send(1)
    assert tl.try_select(a, (a, 1), (full, 2), None) is None
    assert len(full) == 1
    for ch in (a, full):
        wait_parked(ch)


def test_try_select_performs_a_ready_case() -> None:
    a: tl.Channel[int] = tl.Channel()
    out: tl.Channel[int] = tl.Channel(1)
    assert tl.try_select(a, None, (out, 3)) == (2, None, True)
    assert out.try_recv() == (3, True)


class _RunAfterRelease:
    """Stands in for a channel's lock and runs *hook* after its first release."""

    def __init__(self, lock: Any, hook: Callable[[], None]) -> None:
        self._lock = lock
        self._hook: Callable[[], None] | None = hook

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return bool(self._lock.acquire(blocking, timeout))

    def release(self) -> None:
        self._lock.release()
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()

    def locked(self) -> bool:
        return bool(self._lock.locked())

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


@pytest.mark.parametrize(
    "poll",
    [
        tl.try_select,
        lambda c1, c2: tl.select(c1, c2, timeout=0),
    ],
    ids=["try_select", "select-timeout-0"],
)
def test_nonblocking_select_sees_a_case_that_was_ready_throughout(
    poll: Callable[[tl.Channel[int], tl.Channel[int]], tl.Selected | None],
) -> None:
    """A value moves from c1 to c2 just after c2 was looked at: one was always ready."""
    for _ in range(20):
        c1: tl.Channel[int] = tl.Channel(1)
        c2: tl.Channel[int] = tl.Channel(1)
        c1.send(1)

        def move(c1: tl.Channel[int] = c1, c2: tl.Channel[int] = c2) -> None:
            if not c1._lock.locked():  # c1 locked by the poll itself: it is atomic
                c2.send(1, timeout=0)
                c1.try_recv()

        c2._lock = _RunAfterRelease(c2._lock, move)  # type: ignore[assignment]
        try:
            sel = poll(c1, c2)
        except TimeoutError:
            sel = None
        assert sel is not None, "no case ready, but c1 or c2 held a value at every moment"
        assert sel.value == 1


# -- the same channel in several cases -------------------------------------------------------


def test_same_channel_in_several_receive_cases_takes_one_value() -> None:
    ch = filled(range(100))
    seen = set()
    for trial in range(1, 51):
        sel = tl.select(ch, None, ch)
        seen.add(sel.index)
        assert sel.value == trial - 1
        assert len(ch) == 100 - trial
    assert seen == {0, 2}


def test_same_channel_in_several_send_cases_sends_one_value() -> None:
    seen = set()
    for _ in range(50):
        ch: tl.Channel[str] = tl.Channel(1)
        sel = tl.select((ch, "a"), (ch, "b"))
        seen.add(sel.index)
        assert ch.try_recv() == ("ab"[sel.index], True)
    assert seen == {0, 1}


def test_select_does_not_pair_with_itself() -> None:
    ch: tl.Channel[int] = tl.Channel()
    with pytest.raises(TimeoutError):
        tl.select((ch, 1), ch, timeout=0.02)
    wait_parked(ch)
    assert ch.try_recv() == (None, False)


def test_send_and_receive_on_same_buffered_channel() -> None:
    ch: tl.Channel[int] = tl.Channel(1)
    assert tl.select((ch, 7), ch) == (0, None, True)
    assert tl.select((ch, 8), ch) == (1, 7, True)
    assert len(ch) == 0


@pytest.mark.timeout(30)
def test_parked_duplicate_cases_fire_once() -> None:
    ch: tl.Channel[int] = tl.Channel()
    worker = spawn(lambda: tl.select(ch, ch, timeout=HANG_GUARD))
    wait_parked(ch, receivers=2)
    assert ch.try_send(1)
    assert not ch.try_send(2)
    [sel] = join([worker])
    assert sel.index in (0, 1)
    assert sel[1:] == (1, True)
    wait_parked(ch)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("direction", ["send", "recv"])
def test_parked_duplicate_cases_are_chosen_at_random(direction: str) -> None:
    """Both cases become ready when the partner arrives: either may be chosen."""
    ch: tl.Channel[int] = tl.Channel()
    trials = 100
    if direction == "send":
        cases: tuple[Any, ...] = ((ch, 0), (ch, 1))
    else:
        cases = (ch, ch)

    def selector() -> list[int]:
        return [tl.select(*cases, timeout=HANG_GUARD).index for _ in range(trials)]

    worker = spawn(selector)
    for _ in range(trials):
        if direction == "send":
            wait_parked(ch, senders=2)
            ch.recv(timeout=HANG_GUARD)
        else:
            wait_parked(ch, receivers=2)
            ch.send(0, timeout=HANG_GUARD)
    [indices] = join([worker])
    assert indices.count(0) > trials // 10
    assert indices.count(1) > trials // 10


# -- uniform random choice ----------------------------------------------------------------------


def test_uniform_choice_among_ready_receive_cases() -> None:
    trials = 4000
    ready = [filled(range(trials)) for _ in range(4)]
    empty: tl.Channel[int] = tl.Channel(1)
    cases = [None, ready[0], empty, ready[1], ready[2], None, ready[3]]
    counts = Counter(tl.select(*cases).index for _ in range(trials))
    assert chi_square(counts, [1, 3, 4, 6], trials) < 30


def test_uniform_choice_among_ready_send_cases() -> None:
    trials = 3000
    channels: list[tl.Channel[int]] = [tl.Channel(math.inf) for _ in range(3)]
    full: tl.Channel[int] = tl.Channel(1)
    full.send(0)
    cases = [(full, -1), *((ch, i) for i, ch in enumerate(channels))]
    counts = Counter(tl.select(*cases).index for _ in range(trials))
    assert chi_square(counts, [1, 2, 3], trials) < 28
    assert [len(ch) for ch in channels] == [counts[1], counts[2], counts[3]]


def test_uniform_choice_among_many_cases() -> None:
    trials = 8000
    channels = [filled(range(trials)) for _ in range(8)]
    counts = Counter(tl.select(*channels).index for _ in range(trials))
    assert chi_square(counts, list(range(8)), trials) < 40


def test_try_select_chooses_uniformly() -> None:
    trials = 3000
    channels = [filled(range(trials)) for _ in range(3)]
    counts: Counter[int] = Counter()
    for _ in range(trials):
        sel = tl.try_select(*channels)
        assert sel is not None
        counts[sel.index] += 1
    assert chi_square(counts, [0, 1, 2], trials) < 28


def test_ready_closed_channel_competes_fairly() -> None:
    trials = 2000
    closed: tl.Channel[int] = tl.Channel()
    closed.close()
    counts = Counter(tl.select(filled(range(1)), closed).index for _ in range(trials))
    assert chi_square(counts, [0, 1], trials) < 24


# -- parked select and partners in other threads -----------------------------------------------


@pytest.mark.timeout(30)
def test_parked_select_woken_by_send() -> None:
    a: tl.Channel[int] = tl.Channel()
    b: tl.Channel[int] = tl.Channel(3)
    worker = spawn(lambda: tl.select(a, None, b, timeout=HANG_GUARD))
    wait_parked(a, receivers=1)
    wait_parked(b, receivers=1)
    b.send(7, timeout=HANG_GUARD)
    assert join([worker]) == [(2, 7, True)]
    wait_parked(a)
    assert len(b) == 0


@pytest.mark.timeout(30)
def test_parked_send_case_woken_by_recv() -> None:
    a: tl.Channel[str] = tl.Channel()
    b: tl.Channel[str] = tl.Channel()
    worker = spawn(lambda: tl.select((a, "x"), b, timeout=HANG_GUARD))
    wait_parked(a, senders=1)
    wait_parked(b, receivers=1)
    assert a.recv(timeout=HANG_GUARD) == "x"
    assert join([worker]) == [(0, None, True)]
    wait_parked(b)
    assert not b.try_send("y")


@pytest.mark.timeout(30)
def test_parked_send_case_on_full_buffer_woken_by_recv() -> None:
    ch: tl.Channel[str] = tl.Channel(1)
    ch.send("first")
    worker = spawn(lambda: tl.select((ch, "second"), timeout=HANG_GUARD))
    wait_parked(ch, senders=1)
    assert ch.recv() == "first"
    assert join([worker]) == [(0, None, True)]
    assert ch.try_recv() == ("second", True)


@pytest.mark.timeout(30)
def test_two_parked_selects_rendezvous() -> None:
    a: tl.Channel[int] = tl.Channel()
    unused: tl.Channel[int] = tl.Channel()
    receiver = spawn(lambda: tl.select(unused, a, timeout=HANG_GUARD))
    wait_parked(a, receivers=1)
    sel = tl.select((a, 5), (unused, 6), timeout=HANG_GUARD)
    assert sel[1:] == (None, True)
    assert join([receiver]) == [(1, 5, True) if sel.index == 0 else (0, 6, True)]
    wait_parked(a)
    wait_parked(unused)


# -- aselect ----------------------------------------------------------------------------------


def test_aselect_ready_case() -> None:
    ch = filled([4])
    assert asyncio.run(tl.aselect(None, ch)) == (1, 4, True)


def test_aselect_timeout_has_no_effect() -> None:
    ch: tl.Channel[int] = tl.Channel()
    with pytest.raises(TimeoutError):
        asyncio.run(tl.aselect(ch, (ch, 1), timeout=0.02))
    wait_parked(ch)


@pytest.mark.timeout(30)
def test_aselect_woken_by_a_thread() -> None:
    a: tl.Channel[int] = tl.Channel()
    b: tl.Channel[int] = tl.Channel()
    started = threading.Event()

    async def main() -> tl.Selected:
        started.set()
        return await tl.aselect(a, (b, 2), timeout=HANG_GUARD)

    def partner() -> int:
        started.wait(HANG_GUARD)
        wait_parked(b, senders=1)
        return b.recv(timeout=HANG_GUARD)

    worker = spawn(partner)
    assert asyncio.run(main()) == (1, None, True)
    assert join([worker]) == [2]
    wait_parked(a)


@pytest.mark.timeout(30)
def test_aselect_woken_by_close() -> None:
    ch: tl.Channel[int] = tl.Channel()

    def closer() -> None:
        wait_parked(ch, receivers=1)
        ch.close()

    worker = spawn(closer)
    assert asyncio.run(tl.aselect(ch, timeout=HANG_GUARD)) == (0, None, False)
    join([worker])


def test_send_case_on_none_is_never_ready_and_keeps_its_index() -> None:
    """``(None, value)`` disables a send case, as a nil channel does in Go."""
    ready: tl.Channel[int] = tl.Channel(1)
    ready.send(9)
    for _ in range(20):
        sel = tl.select((None, 1), ready, timeout=1.0)
        assert sel == tl.Selected(1, 9, True)
        ready.send(9)
    assert tl.try_select((None, 1), tl.Channel[int]()) is None
    with pytest.raises(TimeoutError):
        tl.select((None, 1), timeout=0.01)
    with pytest.raises(ValueError, match="only None cases"):
        tl.select((None, 1))


def test_selected_hashes_and_compares_as_its_tuple() -> None:
    """Regression: on 3.14+, where a tuple caches its hash, the compiled
    select's results hashed to 0, unlike the equal tuple (a set or dict
    holding one could not find the other)."""
    a: tl.Channel[int] = tl.Channel(3)
    for v in (5, 6, 7):
        a.send(v)
    results = [tl.select(a, None), tl.try_select(a), tl.select(a, timeout=1.0)]
    assert results == [(0, 5, True), (0, 6, True), (0, 7, True)]
    for sel in results:
        assert hash(sel) == hash(tuple(sel))
        assert tuple(sel) in {sel}
        assert sel in {tuple(sel)}
