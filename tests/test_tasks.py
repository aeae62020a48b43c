"""TaskGroup and Task: structured tasks on worker threads.

Several tests must know that a task is really parked in a blocking
operation (not merely about to park) before they cancel it; they poll the
task's cancel scope, which every blocking wait inside the task joins for as
long as it sleeps.  Cancellation is level-triggered, so a task that had not
parked yet would still be cancelled: the polling only makes the tests
exercise the harder case (waking a sleeper).
"""

from __future__ import annotations

import asyncio
import contextvars
import operator
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import threadline as tl
from threadline._sync import WaitGroup
from threadline._tasks import Task, TaskGroup

HANG = 10.0  # generous guard: a wait this long means something is stuck


# -- helpers -----------------------------------------------------------------------------


def wait_until(predicate: Callable[[], object], what: str, timeout: float = HANG) -> None:
    """Poll (with plain ``time.sleep``, which no scope can cancel)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.001)


def wait_parked(task: Task[Any]) -> None:
    """Wait until *task* sleeps in a blocking threadline operation."""
    wait_until(lambda: task._scope._waiters, f"{task.name} parks")


def raise_(exc: BaseException) -> Callable[[], None]:
    def fail() -> None:
        raise exc

    return fail


def blocked_recv(seen: list[str]) -> Callable[[], None]:
    """A task body that waits forever on a channel and records how it ended."""

    def body() -> None:
        try:
            tl.Channel(0).recv()
        except tl.Cancelled:
            seen.append("cancelled")
            raise
        seen.append("returned")

    return body


def group_errors(body: Callable[[], object]) -> tuple[BaseException, ...]:
    """Run *body*, which must raise an ExceptionGroup; return its exceptions."""
    with pytest.raises(ExceptionGroup) as info:
        body()
    return info.value.exceptions


BLOCKING_KINDS = ["recv", "send", "select", "sleep", "waitgroup", "task-result"]


def blocking_op(kind: str, tg: TaskGroup) -> Callable[[], object]:
    """An operation that blocks (practically) forever unless cancelled."""
    ch: tl.Channel[str] = tl.Channel(0)
    if kind == "recv":
        return ch.recv
    if kind == "send":
        return lambda: ch.send("x")
    if kind == "select":
        return lambda: tl.select(ch, (tl.Channel(0), "y"), None)
    if kind == "sleep":
        return lambda: tl.sleep(HANG * 3)
    if kind == "waitgroup":
        wg = WaitGroup()
        wg.add(1)
        return wg.wait
    assert kind == "task-result"
    other = tg.go(ch.recv)
    return other.result


# -- waiting and results ----------------------------------------------------------------


def test_group_waits_for_every_task() -> None:
    finished: list[int] = []

    def work(i: int) -> None:
        tl.sleep(0.01 * (i % 5))
        time.sleep(0.005)  # not a blocking point: still waited for
        finished.append(i)

    with TaskGroup() as tg:
        tasks = [tg.go(work, i) for i in range(20)]
    assert sorted(finished) == list(range(20))
    assert all(t.done() for t in tasks)


def test_results_come_from_task_result() -> None:
    def power(base: int, *, exp: int) -> int:
        return base**exp

    with TaskGroup() as tg:
        tasks = [tg.go(power, i, exp=3) for i in range(10)]
        none = tg.go(lambda: None)
    assert [t.result() for t in tasks] == [i**3 for i in range(10)]
    assert none.result() is None
    assert all(t.exception() is None for t in tasks)


def test_body_can_wait_for_a_task_result() -> None:
    ch: tl.Channel[int] = tl.Channel(0)
    with TaskGroup() as tg:
        t = tg.go(lambda: ch.recv() + 1)
        ch.send(41)
        assert t.result(timeout=HANG) == 42
        assert t.done()


def test_empty_group_exits_at_once() -> None:
    with TaskGroup() as tg:
        pass
    assert not tg.cancel_called


# -- failures cancel the rest -----------------------------------------------------------


@pytest.mark.parametrize("kind", BLOCKING_KINDS)
def test_first_failure_cancels_a_task_blocked_in(kind: str) -> None:
    seen: list[str] = []
    boom = ValueError("boom")
    victims: list[Task[None]] = []

    def blocked(op: Callable[[], object]) -> None:
        try:
            op()
        except tl.Cancelled:
            seen.append("cancelled")
            raise
        seen.append("returned")

    def run() -> None:
        with TaskGroup() as tg:
            victims.append(tg.go(blocked, blocking_op(kind, tg)))
            wait_parked(victims[0])
            tg.go(raise_(boom))

    assert group_errors(run) == (boom,)
    assert seen == ["cancelled"]
    assert victims[0].done()
    with pytest.raises(tl.Cancelled):
        victims[0].result()


def test_first_failure_cancels_the_body() -> None:
    boom = ValueError("boom")
    reached: list[str] = []

    def run() -> None:
        with TaskGroup() as tg:

            def fail_once_the_body_parks() -> None:
                wait_until(lambda: tg._scope._waiters, "the body parks")
                raise boom

            tg.go(fail_once_the_body_parks)
            try:
                tl.Channel(0).recv()
            except tl.Cancelled:
                reached.append("cancelled")
                raise
            reached.append("returned")

    assert group_errors(run) == (boom,)  # the body's Cancelled is not a failure
    assert reached == ["cancelled"]


def test_every_non_cancelled_failure_is_reported() -> None:
    barrier = threading.Barrier(3)
    errors = [ValueError("a"), KeyError("b"), RuntimeError("c")]
    cleanup_error = OSError("cleanup failed")
    seen: list[str] = []
    tasks: dict[str, Task[Any]] = {}

    def fail_together(exc: Exception) -> None:
        barrier.wait(HANG)  # a plain barrier: all three fail, none is cancelled first
        raise exc

    def fails_in_cleanup() -> None:
        try:
            tl.Channel(0).recv()
        except tl.Cancelled:
            raise cleanup_error from None

    def run() -> None:
        with TaskGroup() as tg:
            tasks["ok"] = tg.go(lambda: "fine")
            assert tasks["ok"].result(timeout=HANG) == "fine"
            cleanup = tg.go(fails_in_cleanup)
            quiet = tg.go(blocked_recv(seen))
            wait_parked(cleanup)
            wait_parked(quiet)
            for i, exc in enumerate(errors):
                tasks[f"fail{i}"] = tg.go(fail_together, exc)

    reported = group_errors(run)
    assert len(reported) == 4
    assert {id(e) for e in reported} == {id(e) for e in [*errors, cleanup_error]}
    assert seen == ["cancelled"]
    assert tasks["ok"].result() == "fine"
    for i, exc in enumerate(errors):
        task = tasks[f"fail{i}"]
        assert task.exception() is exc
        with pytest.raises(type(exc)) as raised:
            task.result()
        assert raised.value is exc


def test_failures_can_be_handled_with_except_star() -> None:
    handled: list[BaseException] = []
    try:
        with TaskGroup() as tg:
            tg.go(raise_(ValueError("v")))
            tg.go(blocked_recv([]))
    except* ValueError as group:
        handled.extend(group.exceptions)
    assert [str(e) for e in handled] == ["v"]


def test_exception_in_body_cancels_the_group_and_is_in_the_group() -> None:
    seen: list[str] = []
    boom = KeyError("body")
    tasks: list[Task[None]] = []
    groups: list[TaskGroup] = []

    def run() -> None:
        with TaskGroup() as tg:
            groups.append(tg)
            tasks.extend(tg.go(blocked_recv(seen)) for _ in range(3))
            for t in tasks:
                wait_parked(t)
            raise boom

    assert group_errors(run) == (boom,)
    assert seen == ["cancelled"] * 3
    assert groups[0].cancel_called
    assert all(t.done() for t in tasks)


def test_exception_in_body_and_task_failure_are_both_reported() -> None:
    body_error = KeyError("body")
    task_error = ValueError("task")

    def run() -> None:
        with TaskGroup() as tg:
            t = tg.go(raise_(task_error))
            wait_until(t.done, "the task fails")  # plain polling: not cancellable
            raise body_error

    assert {id(e) for e in group_errors(run)} == {id(body_error), id(task_error)}


def test_task_that_raises_cancelled_itself_is_not_a_failure() -> None:
    def stray() -> None:
        raise tl.Cancelled("stray")

    with TaskGroup() as tg:
        t = tg.go(stray)
        other = tg.go(lambda: "ok")
    with pytest.raises(tl.Cancelled):
        t.result()
    assert other.result() == "ok"


def test_timeout_inside_a_task_is_a_failure() -> None:
    def overrun() -> None:
        with tl.timeout(0.02):
            tl.Channel(0).recv()

    def run() -> None:
        with TaskGroup() as tg:
            tg.go(overrun)

    [error] = group_errors(run)
    assert isinstance(error, TimeoutError)


# -- tg.cancel ----------------------------------------------------------------------------


def test_cancel_cancels_tasks_and_body_without_raising() -> None:
    seen: list[str] = []
    after: list[str] = []
    with TaskGroup() as tg:
        tasks = [tg.go(blocked_recv(seen)) for _ in range(3)]
        for t in tasks:
            wait_parked(t)
        tg.cancel()
        after.append("cancel() returns")  # cancellation arrives at a blocking point
        tl.Channel(0).recv()
        after.append("recv returned")
    assert after == ["cancel() returns"]
    assert seen == ["cancelled"] * 3
    assert tg.cancel_called
    for t in tasks:
        with pytest.raises(tl.Cancelled):
            t.result()


def test_cancel_from_a_task() -> None:
    seen: list[str] = []
    with TaskGroup() as tg:
        victim = tg.go(blocked_recv(seen))
        wait_parked(victim)
        tg.go(tg.cancel)
    assert seen == ["cancelled"]
    assert victim.done()


def test_task_cancelled_before_it_started() -> None:
    ran: list[str] = []

    def work() -> str:
        tl.checkpoint()
        ran.append("ran")
        return "value"

    with TaskGroup() as tg:
        tg.cancel()
        t = tg.go(work)  # its scope is cancelled from the start
    assert ran == []
    assert t.done()
    with pytest.raises(tl.Cancelled):
        t.result()
    with pytest.raises(tl.Cancelled):
        t.exception()


# -- nested groups and timeouts ------------------------------------------------------------


def start_tree(depth: int, leaves: list[Task[Any]], seen: list[str]) -> None:
    """A task that runs a group of two subtrees; a leaf blocks on a channel."""
    with TaskGroup() as g:
        for _ in range(2):
            if depth == 1:
                leaves.append(g.go(blocked_recv(seen)))
            else:
                g.go(start_tree, depth - 1, leaves, seen)


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("how", ["failure", "cancel"])
def test_outer_group_cancels_nested_groups(depth: int, how: str) -> None:
    leaves: list[Task[Any]] = []
    seen: list[str] = []
    boom = ValueError("boom")
    n_leaves = 2**depth

    roots: list[Task[None]] = []

    def run() -> None:
        with TaskGroup() as tg:
            roots.append(tg.go(start_tree, depth, leaves, seen))
            wait_until(lambda: len(leaves) == n_leaves, "every leaf starts")
            for leaf in leaves:
                wait_parked(leaf)
            if how == "failure":
                tg.go(raise_(boom))
            else:
                tg.cancel()

    if how == "failure":
        assert group_errors(run) == (boom,)
    else:
        run()
    assert seen == ["cancelled"] * n_leaves
    for leaf in [*roots, *leaves]:
        assert leaf.done()
        with pytest.raises(tl.Cancelled):
            leaf.result()


@pytest.mark.parametrize("owner_waits_in", ["exit", "body"])
def test_timeout_around_a_group_cancels_every_task(owner_waits_in: str) -> None:
    seen: list[str] = []
    leaves: list[Task[Any]] = []
    tasks: list[Task[Any]] = []

    def run() -> None:
        with TaskGroup() as tg:
            tasks.extend(tg.go(blocking_op(kind, tg)) for kind in BLOCKING_KINDS)
            tasks.append(tg.go(start_tree, 2, leaves, seen))
            if owner_waits_in == "body":
                tl.Channel(0).recv()

    with pytest.raises(TimeoutError), tl.timeout(0.3):
        run()
    assert all(t.done() for t in tasks)
    # A leaf may not have started before the deadline; then it never ran.
    assert len(seen) <= len(leaves) <= 4
    assert seen == ["cancelled"] * len(seen)
    for t in tasks + leaves:
        assert t.done()
        with pytest.raises(tl.Cancelled):
            t.result()


def test_timeout_around_a_group_with_tasks_that_finish_raises_nothing() -> None:
    with tl.timeout(HANG), TaskGroup() as tg:
        t = tg.go(lambda: 7)
    assert t.result() == 7


def test_timeout_that_expired_while_every_task_finished_its_work_raises_nothing() -> None:
    """Regression: the deadline passed while the owner waited for tasks that
    could not be cancelled (outside threadline) and then returned normally; the
    group raised Cancelled anyway and the timeout turned it into TimeoutError,
    as if the results had not come."""
    with tl.timeout(0.05) as scope, TaskGroup() as tg:
        t = tg.go(lambda: time.sleep(0.3) or 7)
    assert t.result() == 7
    assert scope.cancel_called
    assert not scope.cancelled_caught


def test_timeout_that_cancelled_one_task_raises_though_others_finished() -> None:
    with pytest.raises(TimeoutError), tl.timeout(0.05) as scope, TaskGroup() as tg:
        done = tg.go(lambda: time.sleep(0.2) or 7)
        stuck = tg.go(tl.Channel[int]().recv)
    assert scope.cancelled_caught
    assert done.result() == 7
    with pytest.raises(tl.Cancelled):
        stuck.result()


# -- the Task API -----------------------------------------------------------------------------


def test_task_result_timeout_cancel_done_and_exception() -> None:
    ch: tl.Channel[int] = tl.Channel(0)
    with TaskGroup() as tg:
        t = tg.go(ch.recv)
        wait_parked(t)
        with pytest.raises(TimeoutError):
            t.result(timeout=0.05)
        with pytest.raises(TimeoutError):
            t.result(timeout=0)
        with pytest.raises(TimeoutError):
            t.exception(timeout=0.01)
        assert not t.done()
        ch.send(5)  # the timeouts had no effect on the task
        assert t.result(timeout=HANG) == 5
        assert t.done()
        assert t.cancel() is False  # already finished
        assert t.result() == 5

        u = tg.go(ch.recv)
        wait_parked(u)
        assert u.cancel() is True
        with pytest.raises(tl.Cancelled):
            u.result(timeout=HANG)
        assert u.done()
        assert u.cancel() is False
        with pytest.raises(tl.Cancelled):
            u.exception()
    assert not tg.cancel_called  # cancelling one task leaves the group alone


def test_task_cancel_leaves_siblings_alone() -> None:
    ch: tl.Channel[str] = tl.Channel(0)
    seen: list[str] = []
    with TaskGroup() as tg:
        victim = tg.go(blocked_recv(seen))
        sibling = tg.go(ch.recv)
        wait_parked(victim)
        victim.cancel()
        ch.send("still served")
    assert seen == ["cancelled"]
    assert sibling.result() == "still served"


def test_task_exception_returns_the_exception() -> None:
    boom = ValueError("boom")
    handled: list[BaseException] = []
    try:
        with TaskGroup() as tg:
            bad = tg.go(raise_(boom))
    except* ValueError as group:
        handled.extend(group.exceptions)
    assert handled == [boom]
    assert bad.exception() is boom
    assert bad.exception(timeout=0) is boom


def test_task_result_rejects_bad_timeouts() -> None:
    with TaskGroup() as tg:
        t = tg.go(lambda: 1)
        with pytest.raises(ValueError, match="timeout"):
            t.result(timeout=-1)
        with pytest.raises(TypeError, match="timeout"):
            t.result(timeout="1")  # type: ignore[arg-type]
    assert t.result() == 1


def test_task_name_names_the_function() -> None:
    def distinctly_named() -> None:
        pass

    with TaskGroup() as tg:
        t = tg.go(distinctly_named)
    assert "distinctly_named" in t.name
    assert "distinctly_named" in repr(t)


# -- await task, add_done_callback ----------------------------------------------------------------


def test_await_a_task_from_asyncio_without_blocking_the_loop() -> None:
    release = threading.Event()
    ticks: list[int] = []

    async def main(task: Task[int]) -> int:
        async def ticker() -> None:
            for i in range(5):
                ticks.append(i)
                await asyncio.sleep(0.01)
            release.set()  # the task may finish only once the loop ran meanwhile

        other = asyncio.create_task(ticker())
        value = await task
        await other
        return value

    with TaskGroup() as tg:
        task = tg.go(lambda: release.wait(HANG) and 42)
        assert asyncio.run(main(task)) == 42
    assert ticks == [0, 1, 2, 3, 4]
    assert asyncio.run(main(task)) == 42  # already done: at once


def test_await_a_task_raises_its_exception_or_cancelled() -> None:
    async def outcome(task: Task[Any]) -> Any:
        return await task

    with pytest.raises(ExceptionGroup), TaskGroup() as tg:
        failed = tg.go(raise_(ValueError("boom")))
        wait_until(failed.done, "the task fails")
        stuck = tg.go(blocked_recv([]))
    with pytest.raises(ValueError, match="boom"):
        asyncio.run(outcome(failed))
    with pytest.raises(tl.Cancelled):
        asyncio.run(outcome(stuck))


def test_cancelling_the_awaiting_coroutine_leaves_the_task_running() -> None:
    release = threading.Event()

    async def main(task: Task[bool]) -> None:
        waiting = asyncio.create_task(asyncio.wait_for(asyncio.ensure_future(task), 0.05))
        with pytest.raises(TimeoutError):
            await waiting
        assert not task.done()
        assert not task._waiters  # the awaiting coroutine's waiter was withdrawn

    with TaskGroup() as tg:
        task = tg.go(release.wait, HANG)
        asyncio.run(main(task))
        release.set()
    assert task.result() is True


def test_asyncio_gather_and_ensure_future_accept_tasks() -> None:
    async def main(tasks: list[Task[int]]) -> list[int]:
        first = asyncio.ensure_future(tasks[0])
        assert isinstance(first, asyncio.Future)
        return list(await asyncio.gather(first, *tasks[1:]))

    with TaskGroup() as tg:
        tasks = [tg.go(operator.mul, i, 10) for i in range(4)]
        assert asyncio.run(main(tasks)) == [0, 10, 20, 30]


def test_a_task_is_no_concurrent_future_for_wrap_future() -> None:
    """Documented: asyncio.wrap_future wants a concurrent.futures.Future;
    ``await task`` (or ensure_future) is the way in."""
    with TaskGroup() as tg:
        task = tg.go(lambda: 1)

    async def main() -> None:
        asyncio.wrap_future(task)  # type: ignore[arg-type]

    with pytest.raises((TypeError, AssertionError)):
        asyncio.run(main())


def test_add_done_callback_runs_once_before_the_group_ends() -> None:
    seen: list[tuple[Task[Any], bool, str]] = []
    release = threading.Event()

    def record(task: Task[Any]) -> None:
        seen.append((task, task.done(), threading.current_thread().name))

    with TaskGroup() as tg:
        task = tg.go(release.wait, HANG)
        task.add_done_callback(record)
        task.add_done_callback(record)
        release.set()
    assert seen == [(task, True, seen[0][2])] * 2  # both ran before the with ended
    assert seen[0][2].startswith("threadline-task")  # in the thread that finished it
    task.add_done_callback(record)  # already done: at once, here
    assert seen[-1] == (task, True, threading.current_thread().name)


def test_a_done_callback_that_raises_is_logged_and_the_group_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def bad(task: Task[Any]) -> None:
        raise KeyError("from the callback")

    release = threading.Event()
    with TaskGroup() as tg:
        task = tg.go(release.wait, HANG)
        task.add_done_callback(bad)
        release.set()
    assert task.result() is True
    task.add_done_callback(bad)  # at once: logged too, not raised
    errors = [r for r in caplog.records if r.name == "threadline"]
    assert len(errors) == 2
    assert all("exception calling callback" in r.getMessage() for r in errors)
    assert all(r.exc_info and isinstance(r.exc_info[1], KeyError) for r in errors)


def test_add_done_callback_bridges_to_an_asyncio_future() -> None:
    """The shape of asyncio.wrap_future, by hand."""

    async def main(task: Task[str]) -> str:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        task.add_done_callback(lambda t: loop.call_soon_threadsafe(future.set_result, t.result()))
        return await future

    release = threading.Event()
    with TaskGroup() as tg:
        task = tg.go(lambda: release.wait(HANG) and "bridged")
        timer = threading.Timer(0.05, release.set)
        timer.start()
        assert asyncio.run(main(task)) == "bridged"
    timer.join()


def test_add_done_callback_rejects_a_non_callable() -> None:
    with TaskGroup() as tg:
        task = tg.go(lambda: 1)
    with pytest.raises(TypeError, match="fn must be callable"):
        task.add_done_callback(5)  # type: ignore[arg-type]


# -- misuse -----------------------------------------------------------------------------------


def test_go_after_the_group_finished_raises_runtime_error() -> None:
    with TaskGroup() as tg:
        pass
    with pytest.raises(RuntimeError, match="after"):
        tg.go(print)


def test_go_before_entering_raises_runtime_error() -> None:
    tg = TaskGroup()
    with pytest.raises(RuntimeError):
        tg.go(print)


def test_group_can_be_entered_only_once() -> None:
    with TaskGroup() as tg:
        pass
    with pytest.raises(RuntimeError), tg:
        pass


@pytest.mark.parametrize("fn", [42, None, "print"])
def test_go_with_a_non_callable_raises_type_error(fn: object) -> None:
    with TaskGroup() as tg:
        with pytest.raises(TypeError, match=repr(fn)):
            tg.go(fn)  # type: ignore[arg-type]
        t = tg.go(lambda: "group still usable")
    assert t.result() == "group still usable"
    assert not tg.cancel_called


# -- tasks, threads and context --------------------------------------------------------------


def test_tasks_started_from_inside_tasks_are_waited_for() -> None:
    finished: list[int] = []

    def chain(n: int) -> None:
        if n:
            tg.go(chain, n - 1)  # the parent returns at once
        else:
            tl.sleep(0.05)
            finished.append(n)

    with TaskGroup() as tg:
        tg.go(chain, 30)
    assert finished == [0]


def test_tasks_started_from_inside_tasks_are_cancelled_with_the_group() -> None:
    seen: list[str] = []
    children: list[Task[Any]] = []

    def parent() -> None:
        children.extend(tg.go(blocked_recv(seen)) for _ in range(3))

    with TaskGroup() as tg:
        tg.go(parent)
        wait_until(lambda: len(children) == 3, "the children start")
        for child in children:
            wait_parked(child)
        tg.cancel()
    assert seen == ["cancelled"] * 3


def test_context_variables_are_copied_into_tasks() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    changed = threading.Event()

    def read_later() -> str:
        changed.wait(HANG)
        return var.get()

    def read_and_write() -> str:
        seen = var.get()
        var.set("written by the task")
        return seen

    token = var.set("first")
    try:
        with TaskGroup() as tg:
            early = tg.go(read_later)
            var.set("second")
            changed.set()
            late = tg.go(read_and_write)
        assert early.result() == "first"  # a copy taken at go(), not a shared context
        assert late.result() == "second"
        assert var.get() == "second"  # the task's writes stay in the task
    finally:
        var.reset(token)


def test_thread_name_contains_the_function_name() -> None:
    def a_very_particular_task() -> tuple[str, int]:
        return threading.current_thread().name, threading.get_ident()

    with TaskGroup() as tg:
        t = tg.go(a_very_particular_task)
    name, ident = t.result()
    assert "a_very_particular_task" in name
    assert ident != threading.get_ident()


def test_tasks_run_concurrently() -> None:
    n = 8
    barrier = threading.Barrier(n)
    with TaskGroup() as tg:
        tasks = [tg.go(barrier.wait, HANG) for _ in range(n)]
    assert sorted(t.result() for t in tasks) == list(range(n))


# -- async def ----------------------------------------------------------------------------------


def test_async_function_runs_on_an_event_loop_in_a_worker_thread() -> None:
    async def double_later(x: int) -> tuple[int, int, str]:
        await asyncio.sleep(0.01)
        asyncio.get_running_loop()  # raises if there is none
        return x * 2, threading.get_ident(), threading.current_thread().name

    with TaskGroup() as tg:
        t = tg.go(double_later, 21)
    value, ident, name = t.result()
    assert value == 42
    assert ident != threading.get_ident()
    assert "double_later" in name


def test_async_function_failure_is_reported_and_cancels_siblings() -> None:
    boom = ValueError("async boom")
    seen: list[str] = []

    async def fail() -> None:
        await asyncio.sleep(0)
        raise boom

    def run() -> None:
        with TaskGroup() as tg:
            victim = tg.go(blocked_recv(seen))
            wait_parked(victim)
            tg.go(fail)

    assert group_errors(run) == (boom,)
    assert seen == ["cancelled"]


@pytest.mark.parametrize("how", ["group-cancel", "task-cancel", "timeout", "failure"])
@pytest.mark.parametrize("awaiting", ["asyncio.sleep", "arecv"])
def test_async_task_joins_cancellation(how: str, awaiting: str) -> None:
    seen: list[str] = []
    started = threading.Event()
    ch: tl.Channel[int] = tl.Channel(0)

    async def waits_long() -> None:
        started.set()
        try:
            if awaiting == "arecv":
                await ch.arecv()
            else:
                await asyncio.sleep(HANG * 3)
        except (asyncio.CancelledError, tl.Cancelled):
            seen.append("cancelled")
            raise
        seen.append("returned")

    def run() -> Task[None]:
        with TaskGroup() as tg:
            t = tg.go(waits_long)
            started.wait(HANG)
            time.sleep(0.02)  # let it reach its await
            if how == "group-cancel":
                tg.cancel()
            elif how == "task-cancel":
                t.cancel()
            elif how == "failure":
                tg.go(raise_(ValueError("boom")))
        return t

    if how == "timeout":
        with pytest.raises(TimeoutError), tl.timeout(0.1):
            run()
        t = None
    elif how == "failure":
        with pytest.raises(ExceptionGroup) as info:
            run()
        assert [type(e) for e in info.value.exceptions] == [ValueError]
        t = None
    else:
        t = run()
    assert seen == ["cancelled"]
    if t is not None:
        with pytest.raises(tl.Cancelled):
            t.result()


def test_async_task_cancelled_by_timeout_has_cancelled_result() -> None:
    tasks: list[Task[None]] = []

    async def sleeper() -> None:
        await asyncio.sleep(HANG * 3)

    with pytest.raises(TimeoutError), tl.timeout(0.05), TaskGroup() as tg:
        tasks.append(tg.go(sleeper))
    [t] = tasks
    assert t.done()
    with pytest.raises(tl.Cancelled):
        t.result()


# -- many tasks ---------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_ten_thousand_short_tasks() -> None:
    n = 10_000
    with TaskGroup() as tg:
        tasks = [tg.go(operator.mul, i, 3) for i in range(n)]
    assert [t.result() for t in tasks] == [3 * i for i in range(n)]


@pytest.mark.timeout(60)
def test_two_thousand_tasks_blocked_at_once_released_by_close() -> None:
    n = 2000
    ch: tl.Channel[int] = tl.Channel(0)
    arrived = WaitGroup()
    arrived.add(n)

    def wait_for_close() -> str:
        arrived.done()
        try:
            ch.recv()
        except tl.ChannelClosed:
            return "closed"
        return "received"

    with TaskGroup() as tg:
        tasks = [tg.go(wait_for_close) for _ in range(n)]
        # None can finish before close(), so all n are alive at once here.
        arrived.wait(timeout=HANG * 3)
        assert not any(t.done() for t in tasks)
        ch.close()
    assert [t.result() for t in tasks] == ["closed"] * n
    assert len({id(t) for t in tasks}) == n


# -- nothing outlives its group -----------------------------------------------------------------


@pytest.mark.parametrize("exit_by", ["normal", "failure", "cancel", "body-error", "timeout"])
def test_no_task_is_running_after_the_group_exits(exit_by: str) -> None:
    n = 10
    began: list[int] = []
    finished: list[int] = []

    def work(i: int) -> None:
        began.append(i)
        try:
            if i % 2 and exit_by != "normal":
                tl.Channel(0).recv()  # only cancellation ends this
            else:
                tl.sleep(0.01)
        finally:
            time.sleep(0.02)  # slow cleanup that no cancellation cuts short
            finished.append(i)

    tasks: list[Task[None]] = []

    def run() -> None:
        with TaskGroup() as tg:
            tasks.extend(tg.go(work, i) for i in range(n))
            if exit_by == "failure":
                tg.go(raise_(ValueError("boom")))
            elif exit_by == "cancel":
                tg.cancel()
            elif exit_by == "body-error":
                raise ValueError("body")

    if exit_by in ("failure", "body-error"):
        with pytest.raises(ExceptionGroup):
            run()
    elif exit_by == "timeout":
        with pytest.raises(TimeoutError), tl.timeout(0.05):
            run()
    else:
        run()
    assert all(t.done() for t in tasks)
    snapshot = sorted(finished)
    time.sleep(0.05)
    assert sorted(finished) == snapshot, "a task was still running after the group exited"
    # A task cancelled before it started never runs, so it has no cleanup either.
    assert snapshot == sorted(began)
    if exit_by == "normal":
        assert snapshot == list(range(n))


# -- races -----------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_group_cancel_racing_with_a_hand_over(tiny_switch: None) -> None:
    rng = random.Random(1)
    outcomes = {"delivered": 0, "cancelled": 0}
    for i in range(400):
        ch: tl.Channel[int] = tl.Channel(0)
        with TaskGroup() as tg:
            receiver = tg.go(ch.recv)
            sender = tg.go(ch.send, i)
            for _ in range(rng.randrange(200)):
                pass
            tg.cancel()
        assert receiver.done()
        assert sender.done()
        try:
            got = receiver.result()
        except tl.Cancelled:
            got = None
        try:
            sent = sender.result() is None
        except tl.Cancelled:
            sent = False
        # Delivered exactly when the send completed: nothing lost, nothing doubled.
        assert (got == i) == sent, (i, got, sent)
        assert got in (i, None)
        outcomes["delivered" if sent else "cancelled"] += 1
    assert sum(outcomes.values()) == 400


@pytest.mark.timeout(60)
def test_task_cancel_racing_with_completion(tiny_switch: None) -> None:
    rng = random.Random(2)
    for i in range(400):

        def work(i: int, spin: int) -> int:
            tl.checkpoint()
            for _ in range(spin):
                pass
            tl.checkpoint()
            return i

        with TaskGroup() as tg:
            t = tg.go(work, i, rng.randrange(100))
            for _ in range(rng.randrange(100)):
                pass
            was_running = t.cancel()
        assert t.done()
        assert t.cancel() is False
        try:
            value = t.result()
        except tl.Cancelled:
            assert was_running, "a task that had finished cannot become cancelled"
        else:
            assert value == i


@pytest.mark.timeout(60)
def test_result_timeout_racing_with_completion(tiny_switch: None) -> None:
    rng = random.Random(3)
    for i in range(300):
        ch: tl.Channel[int] = tl.Channel(1)
        with TaskGroup() as tg:
            t = tg.go(ch.recv)
            ch.send(i)
            try:
                got = t.result(timeout=rng.choice([0, 1e-5, 1e-4]))
            except TimeoutError:
                got = t.result(timeout=HANG)  # the timeout had no effect
        assert got == i


def test_every_waiter_on_a_task_result_is_woken() -> None:
    ch: tl.Channel[str] = tl.Channel(0)
    with TaskGroup() as tg:
        target = tg.go(ch.recv)
        waiting = [tg.go(target.result) for _ in range(10)]
        for w in waiting:
            wait_parked(w)
        ch.send("shared")
    assert [w.result() for w in waiting] == ["shared"] * 10


def test_a_task_finishing_while_the_group_lock_is_held_waits_for_it() -> None:
    """A finishing task that finds the group's lock taken yields, then waits
    for it (regression for the convoy fix in ``_task_done``): its outcome is
    published only once the lock is free, and nothing is lost."""
    release = threading.Event()
    with TaskGroup() as tg:
        task = tg.go(lambda: release.wait(10) and "done")
        with tg._lock:
            release.set()
            time.sleep(0.05)  # the task is now queued on the lock
            assert not task.done()
        assert task.result(timeout=10) == "done"


def test_the_group_lock_is_its_scopes_lock() -> None:
    """Starting and finishing a task link its scope under the group's in the
    group's own critical section; that needs one lock for both."""
    with TaskGroup() as tg:
        assert tg._lock is tg._scope._lock
        task = tg.go(time.sleep, 0.05)
        assert task._scope._parent is tg._scope
        assert task._scope in (tg._scope._children or ())
    assert not tg._scope._children
