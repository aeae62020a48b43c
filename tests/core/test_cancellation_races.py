"""Cancellation racing with a partner on a parked recv / send / select.

Each round starts a *victim* that blocks in a cancel scope, a *partner* that
keeps trying to complete the victim's operation, and cancels the scope (or
lets a deadline pass) at a random moment.  Whatever the interleaving, exactly
one of "the operation completed" and "the scope caught Cancelled" happens,
and the value is accounted for: it was handed over, or it is still where it
started (the sender kept it, or it sits in the channel).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import threadline as tl
from tests.helpers import drain, join_all, spawn

pytestmark = [pytest.mark.usefixtures("tiny_switch"), pytest.mark.timeout(60)]

ROUNDS = 400


@dataclass
class Round:
    scope: tl.CancelScope = field(default_factory=tl.CancelScope)
    start: threading.Barrier = field(default_factory=lambda: threading.Barrier(3))
    done: threading.Event = field(default_factory=threading.Event)
    completed: list[Any] = field(default_factory=list)  # what the victim's op returned
    partner_got: list[Any] = field(default_factory=list)
    timed_out: bool = False  # the scope (a tl.timeout) raised TimeoutError on exit


def jitter(rng: random.Random) -> None:
    """Wait a random, tiny amount: a few switches' worth, sometimes none."""
    for _ in range(rng.randrange(0, 200)):
        pass
    if rng.random() < 0.3:
        time.sleep(0)


def run_round(
    rnd: Round,
    victim_op: Callable[[], Any],
    partner_step: Callable[[], bool],
    rng: random.Random,
    cancel: bool = True,
) -> None:
    """Victim runs ``victim_op`` in ``rnd.scope``; the partner calls
    ``partner_step`` until it succeeds or the victim is done; the main thread
    cancels the scope after a random pause."""

    def victim() -> None:
        rnd.start.wait()
        try:
            with rnd.scope:
                rnd.completed.append(victim_op())
        except TimeoutError:
            rnd.timed_out = True
        finally:
            rnd.done.set()

    def partner() -> None:
        rnd.start.wait()
        while not rnd.done.is_set():
            if partner_step():
                return
            time.sleep(0)

    workers = [spawn(victim), spawn(partner)]
    rnd.start.wait()
    if cancel:
        jitter(rng)
        rnd.scope.cancel()
    join_all(workers, timeout=20)


def check_exactly_one_outcome(rnd: Round) -> bool:
    """Exactly one of (completed, Cancelled caught); returns whether it completed."""
    completed = bool(rnd.completed)
    assert completed != rnd.scope.cancelled_caught, (rnd.completed, rnd.scope)
    return completed


@pytest.mark.parametrize("capacity", [0, 1])
def test_cancel_races_partner_on_parked_recv(capacity: int) -> None:
    rng = random.Random(capacity)
    for i in range(ROUNDS):
        ch: tl.Channel[int] = tl.Channel(capacity)
        rnd = Round()
        sent: list[bool] = []

        def send_once(ch: tl.Channel[int] = ch, i: int = i, sent: list[bool] = sent) -> bool:
            ok = ch.try_send(i)
            if ok:
                sent.append(True)
            return ok

        run_round(rnd, ch.recv, send_once, rng)
        completed = check_exactly_one_outcome(rnd)
        left = drain(ch)
        if completed:
            assert rnd.completed == [i]
            assert sent == [True]
            assert left == []
        else:
            # Not received: the partner still has it, or it waits in the buffer.
            assert left == ([i] if sent else [])


@pytest.mark.parametrize("capacity", [0, 1])
def test_cancel_races_partner_on_parked_send(capacity: int) -> None:
    rng = random.Random(10 + capacity)
    for i in range(ROUNDS):
        ch: tl.Channel[int] = tl.Channel(capacity)
        filler = -1
        if capacity:
            assert ch.try_send(filler)  # the victim's send must wait for room
        rnd = Round()

        def recv_once(ch: tl.Channel[int] = ch, rnd: Round = rnd) -> bool:
            value, ok = ch.try_recv()
            if ok:
                rnd.partner_got.append(value)
            return ok

        run_round(rnd, lambda ch=ch, i=i: ch.send(i), recv_once, rng)
        completed = check_exactly_one_outcome(rnd)
        left = drain(ch)
        everything = sorted(rnd.partner_got + left)
        if completed:
            # Delivered exactly once: to the partner, or into the buffer.
            assert everything == sorted([i] + ([filler] if capacity else []))
        else:
            # A cancelled send delivered nothing.
            assert i not in everything
            assert everything == ([filler] if capacity else [])


def test_cancel_races_partner_on_parked_select_recv() -> None:
    rng = random.Random(20)
    for i in range(ROUNDS):
        a: tl.Channel[int] = tl.Channel(0)
        b: tl.Channel[int] = tl.Channel(1)
        target = rng.choice([a, b])
        rnd = Round()
        sent: list[bool] = []

        def send_once(
            target: tl.Channel[int] = target, i: int = i, sent: list[bool] = sent
        ) -> bool:
            ok = target.try_send(i)
            if ok:
                sent.append(True)
            return ok

        run_round(rnd, lambda a=a, b=b: tl.select(a, None, b), send_once, rng)
        completed = check_exactly_one_outcome(rnd)
        left = drain(a) + drain(b)
        if completed:
            index = 0 if target is a else 2
            assert rnd.completed == [tl.Selected(index, i, True)]
            assert left == []
        else:
            assert left == ([i] if sent else [])


def test_cancel_races_partner_on_parked_select_send() -> None:
    rng = random.Random(30)
    for i in range(ROUNDS):
        a: tl.Channel[int] = tl.Channel(0)
        b: tl.Channel[int] = tl.Channel(1)
        assert b.try_send(-1)
        rnd = Round()
        source = rng.choice([a, b])

        def recv_once(source: tl.Channel[int] = source, rnd: Round = rnd) -> bool:
            value, ok = source.try_recv()
            if ok:
                rnd.partner_got.append(value)
            return ok

        run_round(rnd, lambda a=a, b=b, i=i: tl.select((a, i), (b, i)), recv_once, rng)
        completed = check_exactly_one_outcome(rnd)
        everything = sorted(rnd.partner_got + drain(a) + drain(b))
        if completed:
            (selected,) = rnd.completed
            assert selected.ok
            assert selected.value is None
            assert everything == [-1, i]
        else:
            assert everything == [-1]


def test_cancel_races_partner_with_a_mixed_select() -> None:
    # The victim may send on `out` or receive from `inp`; the partner offers
    # both directions.  Whichever happens, it happened once.
    rng = random.Random(40)
    for i in range(ROUNDS):
        out: tl.Channel[str] = tl.Channel(0)
        inp: tl.Channel[str] = tl.Channel(0)
        rnd = Round()
        sent: list[str] = []

        def partner_step(
            out: tl.Channel[str] = out,
            inp: tl.Channel[str] = inp,
            rnd: Round = rnd,
            sent: list[str] = sent,
        ) -> bool:
            sel = tl.try_select(out, (inp, "to-victim"))
            if sel is None:
                return False
            if sel.index == 0:
                rnd.partner_got.append(sel.value)
            else:
                sent.append("to-victim")
            return True

        run_round(
            rnd,
            lambda out=out, inp=inp, i=i: tl.select((out, f"from-victim-{i}"), inp),
            partner_step,
            rng,
        )
        completed = check_exactly_one_outcome(rnd)
        assert drain(out) == []
        assert drain(inp) == []
        if completed:
            (selected,) = rnd.completed
            if selected.index == 0:
                assert rnd.partner_got == [f"from-victim-{i}"]
                assert sent == []
            else:
                assert selected == tl.Selected(1, "to-victim", True)
                assert sent == ["to-victim"]
                assert rnd.partner_got == []
        else:
            assert rnd.partner_got == []
            assert sent == []


@pytest.mark.parametrize("capacity", [0, 1])
def test_deadline_races_partner_on_parked_recv(capacity: int) -> None:
    # The scope is a tl.timeout with a tiny deadline instead of a cancel().
    rng = random.Random(50 + capacity)
    for i in range(ROUNDS):
        ch: tl.Channel[int] = tl.Channel(capacity)
        rnd = Round(scope=tl.timeout(rng.uniform(0, 0.0005)))
        sent: list[bool] = []

        def send_once(ch: tl.Channel[int] = ch, i: int = i, sent: list[bool] = sent) -> bool:
            ok = ch.try_send(i)
            if ok:
                sent.append(True)
            return ok

        run_round(rnd, ch.recv, send_once, rng, cancel=False)
        completed = check_exactly_one_outcome(rnd)
        left = drain(ch)
        if completed:
            # The recv won; the scope may still raise TimeoutError on exit if
            # its deadline passed meanwhile (documented in test_scope.py).
            assert rnd.completed == [i]
            assert left == []
        else:
            assert rnd.timed_out
            assert left == ([i] if sent else [])


@pytest.mark.parametrize("capacity", [0, 1])
def test_op_timeout_races_partner(capacity: int) -> None:
    # The operation's own timeout= instead of a scope: TimeoutError means no effect.
    rng = random.Random(60 + capacity)
    for i in range(ROUNDS):
        ch: tl.Channel[int] = tl.Channel(capacity)
        start = threading.Barrier(2)
        got: list[int] = []
        timed_out: list[bool] = []
        sent: list[bool] = []
        done = threading.Event()

        def victim(
            ch: tl.Channel[int] = ch,
            start: threading.Barrier = start,
            got: list[int] = got,
            timed_out: list[bool] = timed_out,
            done: threading.Event = done,
        ) -> None:
            start.wait()
            try:
                got.append(ch.recv(timeout=rng.uniform(0, 0.0005)))
            except TimeoutError:
                timed_out.append(True)
            finally:
                done.set()

        def partner(
            ch: tl.Channel[int] = ch,
            start: threading.Barrier = start,
            i: int = i,
            sent: list[bool] = sent,
            done: threading.Event = done,
        ) -> None:
            start.wait()
            while not done.is_set():
                if ch.try_send(i):
                    sent.append(True)
                    return
                time.sleep(0)

        join_all([spawn(victim), spawn(partner)], timeout=20)
        assert len(got) + len(timed_out) == 1
        left = drain(ch)
        if got:
            assert got == [i]
            assert sent == [True]
            assert left == []
        else:
            assert left == ([i] if sent else [])


# -- helpers -------------------------------------------------------------------------
