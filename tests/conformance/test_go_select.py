"""Go's select tests (src/runtime/chan_test.go, go/test/chan/*.go), rewritten.

``None`` stands for Go's nil channel, ``try_select`` (or ``timeout=0``) for a
``select`` with a ``default`` case, and a short ``timeout`` for "blocks": with
no partner anywhere, a blocking operation can only time out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import pytest

import threadline as tl
from tests.helpers import join, parked, spawn, wait_parked

HANG_GUARD = 10.0
BLOCKS = 0.02

pytestmark = pytest.mark.timeout(60)


# -- chan_test.go ----------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, 10])
def test_self_select(capacity: int, tiny_switch: None) -> None:
    """TestSelfSelect: a select sending and receiving on one channel never meets itself."""
    ch: tl.Channel[int] = tl.Channel(capacity)

    def player(me: int) -> None:
        for i in range(400):
            cases: list[Any] = [(ch, me), ch]
            if me == 1 and i % 2:
                cases.reverse()
            sel = tl.select(*cases, timeout=HANG_GUARD)
            if capacity == 0 and sel.value is not None:
                assert sel.value != me, "a select received its own value"

    join([spawn(player, 0), spawn(player, 1)])


def test_select_fairness() -> None:
    """TestSelectFairness: two always-ready cases among four are chosen about equally."""
    trials = 4000
    c1: tl.Channel[int] = tl.Channel(trials + 1)
    c2: tl.Channel[int] = tl.Channel(trials + 1)
    for _ in range(trials + 1):
        c1.send(1)
        c2.send(2)
    c3: tl.Channel[int] = tl.Channel()
    c4: tl.Channel[int] = tl.Channel()
    out: tl.Channel[int] = tl.Channel()
    done: tl.Channel[None] = tl.Channel()

    def chooser() -> None:
        while True:
            value = tl.select(c3, c4, c1, c2, timeout=HANG_GUARD).value
            if tl.select((out, value), done, timeout=HANG_GUARD).index == 1:
                return

    worker = spawn(chooser)
    counts = {1: 0, 2: 0}
    for _ in range(trials):
        counts[out.recv(timeout=HANG_GUARD)] += 1
    done.close()
    join([worker])
    deviation = abs(counts[1] / trials - 0.5)
    assert deviation <= 4.5 / (2 * math.sqrt(trials)), f"unfair select: {counts}"


def test_select_duplicate_channel() -> None:
    """TestSelectDuplicateChannel: a select queued twice on a channel leaves its queue sound."""
    c: tl.Channel[int] = tl.Channel()
    d: tl.Channel[int] = tl.Channel()
    e: tl.Channel[int] = tl.Channel()

    def a() -> tl.Selected:
        sel = tl.select(c, c, d, timeout=HANG_GUARD)
        e.send(9, timeout=HANG_GUARD)
        return sel

    first = spawn(a)
    wait_parked(c, receivers=2)
    second = spawn(c.recv, timeout=HANG_GUARD)
    wait_parked(c, receivers=3)
    d.send(7, timeout=HANG_GUARD)
    assert e.recv(timeout=HANG_GUARD) == 9
    c.send(8, timeout=HANG_GUARD)
    assert join([first, second]) == [(2, 7, True), 8]


@pytest.mark.parametrize("capacity", [0, 100])
def test_pseudo_random_send(capacity: int) -> None:
    """TestPseudoRandomSend: two send cases on one channel both get chosen."""
    n = 100
    ch: tl.Channel[int] = tl.Channel(capacity)

    def receive_all() -> list[int]:
        got = []
        for _ in range(n):
            time.sleep(0)
            got.append(ch.recv(timeout=HANG_GUARD))
        return got

    receiver = spawn(receive_all)
    for _ in range(n):
        tl.select((ch, 1), (ch, 0), timeout=HANG_GUARD)
    [got] = join([receiver])
    ones = sum(got)
    assert ones > n // 10
    assert n - ones > n // 10, f"want pseudo-random, got {ones} ones of {n}"


def test_select_stress(tiny_switch: None) -> None:
    """TestSelectStress: plain and select senders and receivers on four channels at once."""
    channels: list[tl.Channel[tuple[str, int, int]]] = [
        tl.Channel(),
        tl.Channel(),
        tl.Channel(2),
        tl.Channel(3),
    ]
    n = 250

    def plain_sender(k: int) -> None:
        for i in range(n):
            channels[k].send(("plain", k, i), timeout=HANG_GUARD)

    def plain_receiver(k: int) -> list[tuple[str, int, int]]:
        return [channels[k].recv(timeout=HANG_GUARD) for _ in range(n)]

    def select_sender() -> None:
        sent = [0] * 4
        while any(count < n for count in sent):
            cases = [
                (ch, ("select", k, sent[k])) if sent[k] < n else None
                for k, ch in enumerate(channels)
            ]
            sent[tl.select(*cases, timeout=HANG_GUARD).index] += 1

    def select_receiver() -> list[tuple[str, int, int]]:
        got = []
        counts = [0] * 4
        while any(count < n for count in counts):
            cases = [ch if counts[k] < n else None for k, ch in enumerate(channels)]
            sel = tl.select(*cases, timeout=HANG_GUARD)
            counts[sel.index] += 1
            got.append(sel.value)
        return got

    workers = [spawn(plain_sender, k) for k in range(4)]
    workers += [spawn(plain_receiver, k) for k in range(4)]
    workers += [spawn(select_sender), spawn(select_receiver)]
    results = join(workers)
    received = [v for values in results[4:8] + results[9:] for v in values]
    expected = [(who, k, i) for who in ("plain", "select") for k in range(4) for i in range(n)]
    assert sorted(received) == sorted(expected)
    for k in range(4):
        for who in ("plain", "select"):
            seen = [i for w, j, i in received if (w, j) == (who, k)]
            assert sorted(seen) == list(range(n))


# -- go/test/chan ----------------------------------------------------------------------------


def test_double_select(tiny_switch: None) -> None:
    """doubleselect.go: a value sent by a select over four channels arrives exactly once."""
    n = 2000
    channels: list[tl.Channel[int]] = [tl.Channel() for _ in range(4)]
    merged: tl.Channel[int] = tl.Channel(math.inf)

    def sender() -> None:
        try:
            for i in range(n):
                tl.select(*[(ch, i) for ch in channels], timeout=HANG_GUARD)
        finally:
            for ch in channels:
                ch.close()

    def mux(inp: tl.Channel[int]) -> None:
        for v in inp:
            merged.send(v)

    join([spawn(sender), *(spawn(mux, ch) for ch in channels)])
    merged.close()
    assert sorted(merged) == list(range(n))


def test_select_evaluates_and_sends_each_case_once() -> None:
    """select.go: send cases dropped (set to None) once they fired; then nothing is ready."""

    def send_until_blocked(*channels: tl.Channel[int] | None) -> int:
        cases = list(channels)
        sent = 0
        while any(ch is not None for ch in cases):
            sel = tl.try_select(*[None if ch is None else (ch, 1 << sent) for ch in cases])
            if sel is None:
                break
            cases[sel.index] = None
            sent += 1
        return sent

    a: tl.Channel[int] = tl.Channel(1)
    b: tl.Channel[int] = tl.Channel(1)
    assert send_until_blocked(a, b) == 2
    assert a.recv(timeout=0) | b.recv(timeout=0) == 0b11
    assert send_until_blocked(a, None) == 1
    assert a.recv(timeout=0) == 1


def test_select_leaves_nothing_behind() -> None:
    """select2.go: many selects completed by another case leave no waiters behind."""
    unused: tl.Channel[int] = tl.Channel()
    used: tl.Channel[int] = tl.Channel()
    n = 2000

    def selector() -> None:
        for _ in range(n):
            sel = tl.select(unused, used, timeout=HANG_GUARD)
            assert sel.index == 1

    worker = spawn(selector)
    for i in range(n):
        used.send(i, timeout=HANG_GUARD)
    join([worker])
    assert parked(unused) == (0, 0)
    with unused._lock:
        assert (len(unused._recvq), len(unused._sendq)) == (0, 0)


def _blocks(fn: Callable[[float], object]) -> bool:
    """True if fn(timeout) runs out of time: with no partner, that means it blocks."""
    try:
        fn(BLOCKS)
    except TimeoutError:
        return True
    return False


def _closed(capacity: int = 0) -> tl.Channel[int]:
    ch: tl.Channel[int] = tl.Channel(capacity)
    ch.close()
    return ch


def _with_room() -> tl.Channel[int]:
    return tl.Channel(1)


def _with_value() -> tl.Channel[int]:
    ch: tl.Channel[int] = tl.Channel(1)
    ch.send(1)
    return ch


BLOCKING_SEMANTICS: dict[str, tuple[bool, Callable[[float], object]]] = {
    "only-nil-case": (True, lambda t: tl.select(None, timeout=t)),
    "only-nil-cases": (True, lambda t: tl.select(None, None, timeout=t)),
    "unbuffered-recv": (True, lambda t: tl.Channel[int]().recv(timeout=t)),
    "unbuffered-send": (True, lambda t: tl.Channel[int]().send(1, timeout=t)),
    "buffered-recv-empty": (True, lambda t: _with_room().recv(timeout=t)),
    "buffered-send-full": (True, lambda t: _with_value().send(1, timeout=t)),
    "buffered-send-room": (False, lambda t: _with_room().send(1, timeout=t)),
    "buffered-recv-value": (False, lambda t: _with_value().recv(timeout=t)),
    "select-unbuffered-recv": (True, lambda t: tl.select(tl.Channel(), None, timeout=t)),
    "select-unbuffered-send": (True, lambda t: tl.select(None, (tl.Channel(), 1), timeout=t)),
    "select-closed-recv": (False, lambda t: tl.select(_closed(), timeout=t)),
    "select-closed-buffered-recv": (False, lambda t: tl.select(None, _closed(4), timeout=t)),
    "select-nil-and-closed": (False, lambda t: tl.select(None, _closed(), None, timeout=t)),
    "select-room": (False, lambda t: tl.select(tl.Channel(), (_with_room(), 1), timeout=t)),
    "select-value": (False, lambda t: tl.select((tl.Channel(), 1), _with_value(), timeout=t)),
    "select-default": (False, lambda t: tl.try_select(tl.Channel(), None)),
}


@pytest.mark.parametrize(
    ("expected_block", "fn"), BLOCKING_SEMANTICS.values(), ids=BLOCKING_SEMANTICS.keys()
)
def test_blocking_semantics(expected_block: bool, fn: Callable[[float], object]) -> None:
    """select3.go: which operations block (nil, empty, full) and which never do."""
    assert _blocks(fn) is expected_block


def test_closed_channel_semantics() -> None:
    """select3.go: receive from closed never blocks; send to closed fails, also in select."""
    ch = _closed()
    for _ in range(3):
        assert tl.select(ch, timeout=None) == (0, None, False)
    with pytest.raises(tl.ChannelClosed):
        ch.send(1)
    with pytest.raises(tl.ChannelClosed):
        tl.select(None, (ch, 1))
    with pytest.raises(tl.ChannelClosed):
        tl.try_select((ch, 1))


def test_failed_select_leaves_queue_working() -> None:
    """select6.go (issue 2075): a select that lost on one channel does not break its queue."""
    c1: tl.Channel[bool] = tl.Channel()
    c2: tl.Channel[bool] = tl.Channel()
    c3: tl.Channel[bool] = tl.Channel()

    def plain() -> bool:
        return c1.recv(timeout=HANG_GUARD)

    def selecting() -> bool:
        sel = tl.select(c1, c2, timeout=HANG_GUARD)
        assert sel.index == 1, "the select should have been woken through c2"
        c3.send(True, timeout=HANG_GUARD)
        return c1.recv(timeout=HANG_GUARD)

    first = spawn(plain)
    wait_parked(c1, receivers=1)
    second = spawn(selecting)
    wait_parked(c1, receivers=2)
    c2.send(True, timeout=HANG_GUARD)
    assert c3.recv(timeout=HANG_GUARD)
    c1.send(True, timeout=HANG_GUARD)
    c1.send(True, timeout=HANG_GUARD)
    assert join([first, second]) == [True, True]


RECEIVE_FORMS: dict[str, Callable[[tl.Channel[int], tl.Channel[int]], int]] = {
    "recv": lambda c, _: c.recv(timeout=HANG_GUARD),
    "select-one": lambda c, _: tl.select(c, timeout=HANG_GUARD).value,
    "select-with-nil": lambda c, _: tl.select(None, c, timeout=HANG_GUARD).value,
    "select-with-dummy": lambda c, dummy: tl.select(dummy, c, timeout=HANG_GUARD).value,
    "select-with-dummy-send": lambda c, dummy: (
        tl.select(c, (dummy, 0), None, timeout=HANG_GUARD).value
    ),
}


@pytest.mark.parametrize("form", RECEIVE_FORMS.values(), ids=RECEIVE_FORMS.keys())
@pytest.mark.parametrize("capacity", [0, 1])
def test_receive_forms(
    form: Callable[[tl.Channel[int], tl.Channel[int]], int], capacity: int
) -> None:
    """select7.go: a value sent by another thread arrives through every receive form."""
    ch: tl.Channel[int] = tl.Channel(capacity)
    dummy: tl.Channel[int] = tl.Channel()
    sender = spawn(ch.send, 1, timeout=HANG_GUARD)
    assert form(ch, dummy) == 1
    join([sender])
    assert parked(dummy) == (0, 0)
