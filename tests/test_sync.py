"""WaitGroup, Once and Guarded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import threadline as tl
from tests.helpers import join_all, spawn
from threadline._sync import Guarded, Once, WaitGroup

HANG = 10.0  # generous guard: a wait this long means something is stuck


def wait_until(predicate: Callable[[], object], what: str, timeout: float = HANG) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.001)


def waiters(obj: WaitGroup | Once) -> int:
    """How many threads are parked on *obj* (its list of waiters)."""
    with obj._lock:
        return len(obj._waiters)


# -- WaitGroup ------------------------------------------------------------------------


def test_waitgroup_wait_returns_when_every_piece_is_done() -> None:
    wg = WaitGroup()
    wg.add(3)
    finished: list[int] = []

    def piece(i: int) -> None:
        time.sleep(0.01 * i)
        finished.append(i)
        wg.done()

    workers = [spawn(piece, i) for i in range(3)]
    wg.wait(timeout=HANG)
    assert sorted(finished) == [0, 1, 2]
    assert wg.count == 0
    join_all(workers)


def test_waitgroup_add_defaults_to_one_and_accumulates() -> None:
    wg = WaitGroup()
    wg.add()
    wg.add(2)
    assert wg.count == 3
    wg.add(-2)
    assert wg.count == 1
    with pytest.raises(TimeoutError):
        wg.wait(timeout=0)
    wg.done()
    assert wg.count == 0
    wg.wait(timeout=0)


def test_waitgroup_wait_at_zero_returns_at_once() -> None:
    wg = WaitGroup()
    wg.wait()
    wg.wait(timeout=0)


def test_waitgroup_done_below_zero_raises_value_error() -> None:
    wg = WaitGroup()
    with pytest.raises(ValueError, match=r"done\(\)"):
        wg.done()
    assert wg.count == 0
    wg.add(1)
    wg.done()
    with pytest.raises(ValueError, match=r"done\(\)"):
        wg.done()
    assert wg.count == 0


def test_waitgroup_add_below_zero_raises_value_error_and_changes_nothing() -> None:
    wg = WaitGroup()
    wg.add(2)
    with pytest.raises(ValueError, match=r"below zero.*-3"):
        wg.add(-3)
    assert wg.count == 2
    with pytest.raises(ValueError, match="-1"):
        WaitGroup().add(-1)


def test_waitgroup_add_negative_to_zero_wakes_waiters() -> None:
    wg = WaitGroup()
    wg.add(2)
    worker = spawn(wg.wait, timeout=HANG)
    wait_until(lambda: waiters(wg) == 1, "the waiter parks")
    wg.add(-2)
    join_all([worker])


@pytest.mark.parametrize("n", ["3", 1.5, None, True, 2.0])
def test_waitgroup_add_rejects_non_integers(n: object) -> None:
    wg = WaitGroup()
    with pytest.raises(TypeError, match=rf"n must be an int, got {n!r}"):
        wg.add(n)  # type: ignore[arg-type]
    assert wg.count == 0


def test_waitgroup_add_accepts_integer_like_values() -> None:
    class Two:
        def __index__(self) -> int:
            return 2

    wg = WaitGroup()
    wg.add(Two())  # type: ignore[arg-type]
    assert wg.count == 2


def test_waitgroup_wait_timeout_raises_timeout_error() -> None:
    wg = WaitGroup()
    wg.add(1)
    with pytest.raises(TimeoutError):
        wg.wait(timeout=0.05)
    assert wg.count == 1
    assert waiters(wg) == 0  # the timed-out waiter left no trace
    wg.done()
    wg.wait(timeout=0)


@pytest.mark.parametrize(("timeout", "error"), [(-1, ValueError), ("1", TypeError)])
def test_waitgroup_wait_rejects_bad_timeouts(timeout: object, error: type[Exception]) -> None:
    wg = WaitGroup()
    wg.add(1)
    with pytest.raises(error, match="timeout"):
        wg.wait(timeout=timeout)  # type: ignore[arg-type]


def test_waitgroup_wait_wakes_every_waiter() -> None:
    wg = WaitGroup()
    wg.add(1)
    n = 20
    workers = [spawn(wg.wait, timeout=HANG) for _ in range(n)]
    wait_until(lambda: waiters(wg) == n, "every waiter parks")
    assert not any(w.error for w in workers)
    wg.done()
    join_all(workers, timeout=HANG)
    assert waiters(wg) == 0


def test_waitgroup_can_be_reused_after_reaching_zero() -> None:
    wg = WaitGroup()
    for _ in range(3):
        wg.add(2)
        worker = spawn(wg.wait, timeout=HANG)
        wg.done()
        wg.done()
        join_all([worker])


def test_waitgroup_wait_is_cancelled_by_its_scope() -> None:
    wg = WaitGroup()
    wg.add(1)
    scope = tl.CancelScope()
    reached: list[str] = []

    def wait_in_scope() -> None:
        with scope:
            wg.wait()
            reached.append("wait returned")

    worker = spawn(wait_in_scope)
    wait_until(lambda: waiters(wg) == 1, "the waiter parks")
    scope.cancel()
    join_all([worker], timeout=HANG)
    assert reached == []
    assert scope.cancelled_caught
    assert waiters(wg) == 0
    assert wg.count == 1


def test_waitgroup_wait_is_cut_short_by_a_timeout_scope() -> None:
    wg = WaitGroup()
    wg.add(1)
    with pytest.raises(TimeoutError), tl.timeout(0.05):
        wg.wait()
    assert waiters(wg) == 0


def test_waitgroup_wait_in_a_cancelled_scope_raises_even_at_zero() -> None:
    wg = WaitGroup()
    with tl.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(tl.Cancelled):
            wg.wait()


@pytest.mark.timeout(30)
def test_waitgroup_under_contention(tiny_switch: None) -> None:
    for _ in range(50):
        wg = WaitGroup()
        n = 8
        wg.add(n)
        waiting = [spawn(wg.wait, timeout=HANG) for _ in range(4)]
        workers = [spawn(wg.done) for _ in range(n)]
        join_all(workers + waiting, timeout=HANG)
        assert wg.count == 0


# -- Once ---------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_once_runs_fn_exactly_once_under_many_callers(tiny_switch: None) -> None:
    for _ in range(20):
        once = Once()
        calls: list[int] = []
        start = threading.Barrier(16)

        def fn(calls: list[int] = calls) -> None:
            calls.append(1)
            time.sleep(0.002)  # others arrive while it runs

        def caller(once: Once = once, calls: list[int] = calls) -> int:
            start.wait(HANG)
            once.do(fn)
            return len(calls)  # do() returns only after fn finished

        workers = [spawn(caller) for _ in range(16)]
        seen = join_all(workers, timeout=HANG)
        assert calls == [1]
        assert seen == [1] * 16
        assert once.done


def test_once_later_calls_do_not_run_fn() -> None:
    once = Once()
    calls: list[str] = []
    once.do(lambda: calls.append("first"))
    once.do(lambda: calls.append("second"))
    once.do(lambda: calls.append("third"))
    assert calls == ["first"]
    assert once.done


def test_once_callers_wait_until_fn_finishes() -> None:
    once = Once()
    release = threading.Event()
    order: list[str] = []

    def slow() -> None:
        release.wait(HANG)
        order.append("fn finished")

    def late_caller() -> None:
        once.do(lambda: order.append("must not run"))
        order.append("late caller returned")

    first = spawn(once.do, slow)
    wait_until(lambda: once._running, "fn starts")
    late = spawn(late_caller)
    wait_until(lambda: waiters(once) == 1, "the late caller parks")
    assert order == []
    release.set()
    join_all([first, late])
    assert order == ["fn finished", "late caller returned"]


def test_once_fn_that_raises_reaches_runner_and_waiters_then_runs_again() -> None:
    once = Once()
    boom = ValueError("boom")
    waiting = 3
    release = threading.Event()

    def failing() -> None:
        release.wait(HANG)
        raise boom

    def caller() -> BaseException | None:
        try:
            once.do(failing)
        except ValueError as exc:
            return exc
        return None

    runner = spawn(caller)
    wait_until(lambda: once._running, "fn starts")
    others = [spawn(caller) for _ in range(waiting)]
    wait_until(lambda: waiters(once) == waiting, "the other callers park")
    release.set()
    outcomes = join_all([runner, *others])
    assert outcomes == [boom] * (1 + waiting)
    assert not once.done

    calls: list[str] = []
    once.do(lambda: calls.append("again"))
    assert calls == ["again"]
    assert once.done
    once.do(lambda: calls.append("not again"))
    assert calls == ["again"]


def test_once_fn_that_raises_directly() -> None:
    once = Once()
    with pytest.raises(KeyError):
        once.do(lambda: {}["missing"])
    assert not once.done
    once.do(lambda: None)
    assert once.done


@pytest.mark.timeout(10)
def test_once_do_from_inside_its_fn_raises_instead_of_hanging() -> None:
    """Regression: fn calling do() on the same Once waited for itself forever."""
    once = tl.Once()
    seen: list[str] = []

    def fn() -> None:
        seen.append("fn")
        with pytest.raises(RuntimeError, match="inside the function it runs"):
            once.do(fn)
        seen.append("raised")

    once.do(fn)
    assert seen == ["fn", "raised"]
    assert once.done
    once.do(fn)  # done: returns at once, runs nothing
    assert seen == ["fn", "raised"]


def test_once_do_from_inside_fn_that_lets_the_error_out_runs_again_later() -> None:
    once = tl.Once()
    calls: list[int] = []

    def fn() -> None:
        calls.append(1)
        if len(calls) == 1:
            once.do(fn)  # RuntimeError: out of fn, out of the first do

    with pytest.raises(RuntimeError):
        once.do(fn)
    assert not once.done
    once.do(fn)
    assert once.done
    assert calls == [1, 1]


@pytest.mark.parametrize("fn", [None, 1, "fn"])
def test_once_rejects_a_non_callable(fn: object) -> None:
    once = Once()
    with pytest.raises(TypeError, match=repr(fn)):
        once.do(fn)  # type: ignore[arg-type]
    assert not once.done
    once.do(lambda: None)
    assert once.done


def test_once_waiter_is_cancellable_and_fn_still_completes() -> None:
    once = Once()
    release = threading.Event()
    scope = tl.CancelScope()
    calls: list[str] = []

    def slow() -> None:
        release.wait(HANG)
        calls.append("ran")

    def cancellable_caller() -> None:
        with scope:
            once.do(lambda: calls.append("must not run"))

    first = spawn(once.do, slow)
    wait_until(lambda: once._running, "fn starts")
    waiter = spawn(cancellable_caller)
    wait_until(lambda: waiters(once) == 1, "the caller parks")
    scope.cancel()
    join_all([waiter])
    assert scope.cancelled_caught
    release.set()
    join_all([first])
    assert calls == ["ran"]
    assert once.done


# -- Guarded --------------------------------------------------------------------------------


def test_guarded_with_block_gives_the_value() -> None:
    g: Guarded[dict[str, int]] = Guarded({})
    with g as d:
        d["k"] = 1
    with g as d:
        d["j"] = 2
    assert g.get() == {"k": 1, "j": 2}


def test_guarded_update_replaces_and_returns_the_new_value() -> None:
    g = Guarded((1, 2))
    new = g.update(lambda t: (*t, 3))
    assert new == (1, 2, 3)
    assert g.get() is new
    with g as value:
        assert value is new


def test_guarded_update_that_raises_keeps_the_value_and_releases_the_lock() -> None:
    g = Guarded(5)
    with pytest.raises(ZeroDivisionError):
        g.update(lambda v: v // 0)
    assert g.get() == 5
    worker = spawn(g.update, lambda v: v + 1)  # would hang if the lock were kept
    join_all([worker])
    assert g.get() == 6


def test_guarded_update_rejects_a_non_callable() -> None:
    g = Guarded(0)
    with pytest.raises(TypeError, match="42"):
        g.update(42)  # type: ignore[arg-type]
    assert g.get() == 0


def test_guarded_with_block_excludes_other_threads() -> None:
    g = Guarded([0])
    started = threading.Event()

    def update_elsewhere() -> None:
        started.set()
        g.update(lambda v: [*v, 1])

    with g as value:
        worker = spawn(update_elsewhere)
        started.wait(HANG)
        time.sleep(0.05)  # time for the update to slip in, if it could
        assert value == [0]
        assert g.get() == [0]
    join_all([worker])
    assert g.get() == [0, 1]


@pytest.mark.timeout(30)
def test_guarded_concurrent_updates_give_the_exact_total(tiny_switch: None) -> None:
    g = Guarded(0)
    n_threads, n_rounds = 8, 1000
    start = threading.Barrier(n_threads)

    def bump() -> None:
        start.wait(HANG)
        for _ in range(n_rounds):
            g.update(lambda v: v + 1)

    join_all([spawn(bump) for _ in range(n_threads)])
    assert g.get() == n_threads * n_rounds


@pytest.mark.timeout(30)
def test_guarded_concurrent_read_modify_write_in_with_blocks(tiny_switch: None) -> None:
    g: Guarded[dict[str, Any]] = Guarded({"n": 0})
    n_threads, n_rounds = 8, 1000
    start = threading.Barrier(n_threads)

    def bump() -> None:
        start.wait(HANG)
        for _ in range(n_rounds):
            with g as d:
                n = d["n"]
                if n % 97 == 0:
                    time.sleep(0)  # invite a switch mid-update
                d["n"] = n + 1

    join_all([spawn(bump) for _ in range(n_threads)])
    assert g.get() == {"n": n_threads * n_rounds}


def test_guarded_with_is_reentrant() -> None:
    g = Guarded([])
    with g as outer:
        outer.append(1)
        with g as inner:
            inner.append(2)
            assert g.update(lambda v: [*v, 3]) == [1, 2, 3]
        assert g.get() == [1, 2, 3]
    # fully released: another thread gets in
    join_all([spawn(g.update, lambda v: [*v, 4])])
    assert g.get() == [1, 2, 3, 4]
