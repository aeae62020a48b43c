"""Channels and select from coroutines: asend / arecv / async for / aselect.

Coroutines and threads share channels; coroutines in different event loops
(in different threads) share them too.  asyncio cancellation of a parked
operation must leave the channel consistent and lose no value: when the
cancellation races with a partner, either the value was delivered (and the
task sees CancelledError at its next await) or it is still where it was.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

import threadline as tl
from tests.helpers import drain, join_all, spawn
from threadline._core import _scope
from threadline._core._waiter import Waiter

pytestmark = pytest.mark.timeout(60)

HANG = 10.0


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


async def parked(task: asyncio.Task[Any]) -> None:
    """Let *task* run until it waits (on a channel it parks at its first
    suspension: nothing else is awaited before)."""
    for _ in range(3):
        await asyncio.sleep(0)
    assert not task.done()


# -- basics ------------------------------------------------------------------------------


def test_asend_arecv_buffered() -> None:
    async def main() -> None:
        ch: tl.Channel[int] = tl.Channel(2)
        await ch.asend(1)
        await ch.asend(2)
        assert len(ch) == 2
        with pytest.raises(TimeoutError):
            await ch.asend(3, timeout=0)
        assert await ch.arecv() == 1
        assert await ch.arecv(timeout=0) == 2
        with pytest.raises(TimeoutError):
            await ch.arecv(timeout=0)

    run(main())


def test_async_for_until_closed_and_drained() -> None:
    async def main() -> list[int]:
        ch: tl.Channel[int] = tl.Channel(3)
        for i in range(3):
            await ch.asend(i)
        ch.close()
        return [v async for v in ch]

    assert run(main()) == [0, 1, 2]


def test_closed_channel_from_a_coroutine() -> None:
    async def main() -> None:
        ch: tl.Channel[int] = tl.Channel(1)
        await ch.asend(1)
        ch.close()
        with pytest.raises(tl.ChannelClosed):
            await ch.asend(2)
        assert await ch.arecv() == 1
        with pytest.raises(tl.ChannelClosed):
            await ch.arecv()
        sel = await tl.aselect(ch)
        assert sel == tl.Selected(0, None, False)
        with pytest.raises(tl.ChannelClosed):
            await tl.aselect((ch, 3))

    run(main())


def test_close_wakes_parked_coroutines() -> None:
    async def main() -> None:
        receiving: tl.Channel[int] = tl.Channel(0)
        sending: tl.Channel[int] = tl.Channel(0)
        other: tl.Channel[int] = tl.Channel(0)
        tasks = [
            asyncio.ensure_future(receiving.arecv()),
            asyncio.ensure_future(sending.asend(1)),
            asyncio.ensure_future(tl.aselect(other, (sending, 2))),
            asyncio.ensure_future(tl.aselect(receiving, other)),
        ]
        for task in tasks:
            await parked(task)

        def close_both() -> None:
            receiving.close()
            sending.close()

        join_all([spawn(close_both)])  # from another thread
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(results[0], tl.ChannelClosed)
        assert isinstance(results[1], tl.ChannelClosed)
        assert isinstance(results[2], tl.ChannelClosed)
        assert results[3] == tl.Selected(0, None, False)
        assert not other.try_send(5)  # no dead entry of the selects swallows it

    run(main())


@pytest.mark.parametrize("capacity", [0, 1])
def test_async_timeouts_have_no_effect(capacity: int) -> None:
    async def main() -> None:
        ch: tl.Channel[str] = tl.Channel(capacity)
        if capacity:
            await ch.asend("filler")
            with pytest.raises(TimeoutError):
                await ch.asend("late", timeout=0.02)
            assert drain(ch) == ["filler"]
        else:
            with pytest.raises(TimeoutError):
                await ch.asend("late", timeout=0.02)
            assert ch.try_recv() == (None, False)
        with pytest.raises(TimeoutError):
            await ch.arecv(timeout=0.02)
        assert ch.try_send("x") is bool(capacity)  # no ghost receiver took it
        with pytest.raises(TimeoutError):
            await tl.aselect(tl.Channel(0), None, timeout=0.02)

    run(main())


def test_tasks_in_one_loop_rendezvous() -> None:
    async def main() -> list[int]:
        ch: tl.Channel[int] = tl.Channel(0)

        async def producer() -> None:
            with ch:
                for i in range(200):
                    await ch.asend(i)

        task = asyncio.ensure_future(producer())
        got = [v async for v in ch]
        await task
        return got

    assert run(main()) == list(range(200))


# -- threads and coroutines --------------------------------------------------------------


def test_thread_sends_coroutine_receives_unbuffered() -> None:
    ch: tl.Channel[int] = tl.Channel(0)

    def producer() -> None:
        with ch:
            for i in range(300):
                ch.send(i)

    async def consumer() -> list[int]:
        return [v async for v in ch]

    worker = spawn(producer)
    assert run(consumer()) == list(range(300))
    join_all([worker])


def test_coroutine_sends_thread_receives_unbuffered() -> None:
    ch: tl.Channel[int] = tl.Channel(0)

    async def producer() -> None:
        with ch:
            for i in range(300):
                await ch.asend(i)

    worker = spawn(list, ch)
    run(producer())
    (got,) = join_all([worker])
    assert got == list(range(300))


def test_aselect_against_threads() -> None:
    a: tl.Channel[str] = tl.Channel(0)
    b: tl.Channel[str] = tl.Channel(0)

    async def main() -> list[tl.Selected]:
        return [await tl.aselect(a, (b, f"to-thread-{i}")) for i in range(100)]

    def partner() -> list[str]:
        got = []
        for i in range(100):
            sel = tl.select((a, f"from-thread-{i}"), b)
            if sel.index == 1:
                got.append(sel.value)
        return got

    worker = spawn(partner)
    results = run(main())
    (thread_got,) = join_all([worker])
    # Each round the two selects met on exactly one channel.
    from_thread = [r.value for r in results if r.index == 0]
    to_thread = [r for r in results if r.index == 1]
    assert all(r.ok for r in results)
    assert all(r.value is None for r in to_thread)
    assert len(from_thread) + len(thread_got) == 100
    assert all(v.startswith("from-thread-") for v in from_thread)
    assert all(v.startswith("to-thread-") for v in thread_got)


@pytest.mark.parametrize("capacity", [0, 3])
def test_two_event_loops_in_two_threads_share_a_channel(capacity: int) -> None:
    ch: tl.Channel[tuple[int, int]] = tl.Channel(capacity)
    per_producer = 300

    async def producers() -> None:
        async def produce(me: int) -> None:
            for seq in range(per_producer):
                await ch.asend((me, seq))

        await asyncio.gather(*(produce(me) for me in range(3)))

    async def consumers() -> list[list[tuple[int, int]]]:
        async def consume() -> list[tuple[int, int]]:
            return [v async for v in ch]

        async def consume_select() -> list[tuple[int, int]]:
            got = []
            while True:
                sel = await tl.aselect(ch)
                if not sel.ok:
                    return got
                got.append(sel.value)

        return list(await asyncio.gather(consume(), consume(), consume_select()))

    def plain_producer() -> None:
        for seq in range(per_producer):
            ch.send((3, seq))

    def plain_consumer() -> list[tuple[int, int]]:
        return list(ch)

    producer_loop = spawn(run, producers())
    consumer_loop = spawn(run, consumers())
    producer_thread = spawn(plain_producer)
    consumer_thread = spawn(plain_consumer)
    join_all([producer_loop, producer_thread])
    ch.close()
    join_all([consumer_loop, consumer_thread])
    seen = [*consumer_loop.result, consumer_thread.result]
    counts = Counter(v for values in seen for v in values)
    assert counts == Counter((me, seq) for me in range(4) for seq in range(per_producer))
    for values in seen:
        for me in range(4):
            mine = [seq for p, seq in values if p == me]
            assert mine == sorted(mine)


# -- asyncio cancellation of a parked operation -----------------------------------------------


@pytest.mark.parametrize("capacity", [0, 1])
def test_cancel_parked_arecv_leaves_channel_consistent(capacity: int) -> None:
    async def main() -> None:
        ch: tl.Channel[int] = tl.Channel(capacity)
        task = asyncio.ensure_future(ch.arecv())
        await parked(task)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # No ghost receiver is left: an unbuffered send finds nobody, a
        # buffered one stays in the buffer for the next receiver.
        assert ch.try_send(1) is bool(capacity)
        if capacity:
            assert await ch.arecv() == 1
        later = asyncio.ensure_future(ch.arecv())
        await parked(later)
        assert ch.try_send(2)
        assert await later == 2

    run(main())


@pytest.mark.parametrize("capacity", [0, 1])
def test_cancel_parked_asend_delivers_nothing(capacity: int) -> None:
    async def main() -> None:
        ch: tl.Channel[str] = tl.Channel(capacity)
        if capacity:
            await ch.asend("filler")
        task = asyncio.ensure_future(ch.asend("cancelled"))
        await parked(task)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert drain(ch) == (["filler"] if capacity else [])
        assert ch.try_send("next") is bool(capacity)
        assert drain(ch) == (["next"] if capacity else [])

    run(main())


def test_cancel_parked_aselect_leaves_channels_consistent() -> None:
    async def main() -> None:
        a: tl.Channel[str] = tl.Channel(0)
        b: tl.Channel[str] = tl.Channel(1)
        await b.asend("filler")
        task = asyncio.ensure_future(tl.aselect(a, (b, "cancelled"), (a, "cancelled")))
        await parked(task)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not a.try_send("x")  # the receive case is gone
        assert a.try_recv() == (None, False)  # the send case on `a` too
        assert drain(b) == ["filler"]  # and the one on `b` did not happen

    run(main())


# The partner completes the operation first, then the task is cancelled before
# it resumed.  asyncio's cancellation wins: the task gets CancelledError from
# the operation itself.  A receive is undone, the value going back into the
# channel; a send cannot be undone, so it stands (the partner has the value).

PARTNER_FIRST: dict[str, Any] = {
    # name: (victim, partner); the partner returns what it observed (whether
    # its send worked, or what it received)
    "arecv": (lambda a: a.arecv(), lambda a: a.try_send("v")),
    "asend": (lambda a: a.asend("v"), lambda a: a.try_recv()),
    "aselect-recv": (lambda a: tl.aselect(tl.Channel(0), a), lambda a: a.try_send("v")),
    "aselect-send": (lambda a: tl.aselect((a, "v"), tl.Channel(0)), lambda a: a.try_recv()),
}


@pytest.mark.parametrize("op", sorted(PARTNER_FIRST))
def test_cancel_after_partner_completed_loses_nothing(op: str) -> None:
    victim_op, partner_op = PARTNER_FIRST[op]

    async def main() -> None:
        ch: tl.Channel[str] = tl.Channel(0)
        record: list[Any] = []

        async def victim() -> None:
            record.append(await victim_op(ch))
            await asyncio.sleep(HANG)  # the next await: cancellation arrives here
            record.append("not cancelled")  # pragma: no cover

        task = asyncio.ensure_future(victim())
        await parked(task)
        observed = partner_op(ch)
        task.cancel()  # same loop step: the task has not resumed yet
        with pytest.raises(asyncio.CancelledError):
            await task
        if op in ("asend", "aselect-send"):
            assert observed == ("v", True)  # the partner took the value, once
            assert record == []  # the cancellation was raised by the send itself
            assert drain(ch) == []
        else:
            assert observed is True
            received = [r if op == "arecv" else r.value for r in record]
            if op == "aselect-recv":
                assert all(r.index == 1 and r.ok for r in record)
            assert record == []  # cancellation wins...
            assert received + drain(ch) == ["v"]  # ...and the value went back

    run(main())


def test_cancelled_task_that_wraps_arecv_does_not_lose_the_value() -> None:
    # The task *is* the arecv, so it has no "next await" after it: the
    # received value must come out as the task's result, or stay in the channel.
    async def main() -> None:
        ch: tl.Channel[str] = tl.Channel(0)
        task = asyncio.ensure_future(ch.arecv())
        await parked(task)
        assert ch.try_send("v")  # handed over to the parked receiver
        task.cancel()
        try:
            got = [await task]
        except asyncio.CancelledError:
            got = []
        assert got + drain(ch) == ["v"], "the value was received by nobody"

    run(main())


def test_cancelled_asend_that_was_delivered_still_raises_cancelled() -> None:
    # The documented exception to "a send that raised delivered nothing":
    # asyncio cancellation arriving in the instant a partner took the value.
    async def main() -> None:
        ch: tl.Channel[str] = tl.Channel(0)
        task = asyncio.ensure_future(ch.asend("v"))
        await parked(task)
        assert ch.try_recv() == ("v", True)  # the receiver took it
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ch.try_recv() == (None, False)  # delivered once, not twice
        assert task.cancelling() == 1  # the cancellation was not swallowed

    run(main())


@pytest.mark.usefixtures("tiny_switch")
@pytest.mark.parametrize("op", ["arecv", "asend", "aselect"])
@pytest.mark.parametrize("capacity", [0, 1])
def test_cancel_races_thread_partner(op: str, capacity: int) -> None:
    rounds = 300
    rng = random.Random(f"{op}-{capacity}")

    async def main() -> Counter[str]:
        outcomes = Counter[str]()
        for i in range(rounds):
            ch: tl.Channel[int] = tl.Channel(capacity)
            if op == "asend" and capacity:
                ch.try_send(-1)  # full: the victim's send parks
            record: list[Any] = []
            done = threading.Event()
            partner_record: list[Any] = []

            async def victim(ch: tl.Channel[int] = ch, record: list[Any] = record) -> None:
                if op == "arecv":
                    record.append(await ch.arecv())
                elif op == "asend":
                    await ch.asend(i)
                    record.append("sent")
                else:
                    record.append(await tl.aselect(tl.Channel(0), ch))
                await asyncio.sleep(HANG)

            def partner(
                ch: tl.Channel[int] = ch,
                done: threading.Event = done,
                partner_record: list[Any] = partner_record,
            ) -> None:
                while not done.is_set():
                    if op == "asend":
                        value, ok = ch.try_recv()
                        if ok:
                            partner_record.append(value)
                            return
                    elif ch.try_send(i):
                        partner_record.append(i)
                        return
                    time.sleep(0)

            task = asyncio.ensure_future(victim())
            worker = spawn(partner)
            for _ in range(rng.randrange(4)):
                await asyncio.sleep(0)
            if rng.random() < 0.5:
                time.sleep(0)  # let the partner run while the loop is busy
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            done.set()
            join_all([worker])
            left = drain(ch)
            if op == "asend":
                # The partner took the filler (capacity 1) or the value (0);
                # the victim's value arrived at most once, and surely if its
                # send returned (cancellation may win even after delivery).
                everything = sorted(partner_record + left)
                delivered = i in everything
                expected = sorted(([-1] if capacity else []) + ([i] if delivered else []))
                outcomes["delivered" if delivered else "not delivered"] += 1
                assert everything == expected, (record, partner_record, left)
                assert delivered or not record
            else:
                delivered = bool(record)
                outcomes["delivered" if delivered else "not delivered"] += 1
                if delivered:
                    got = record[0] if op == "arecv" else record[0].value
                    assert got == i
                    assert left == []
                else:
                    assert left == partner_record  # still in the buffer, or never sent
        return outcomes

    outcomes = run(main())
    assert sum(outcomes.values()) == rounds


# -- asyncio timeouts --------------------------------------------------------------------


def test_asyncio_timeout_around_arecv() -> None:
    async def main() -> None:
        ch: tl.Channel[int] = tl.Channel(0)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.02):
                await ch.arecv()
        assert not ch.try_send(1)  # no ghost receiver
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ch.arecv(), 0.02)
        assert not ch.try_send(1)
        await asyncio.sleep(0)  # and no cancellation left pending

    run(main())


def test_asyncio_timeout_racing_a_partner_does_not_leak_cancellation() -> None:
    # The value arrives and the asyncio.timeout expires in the same loop step.
    # Either the timeout wins (TimeoutError, value left in the channel) or the
    # receive does (value returned) -- but then the block must end cleanly and
    # no stray CancelledError may surface at a later await outside it.
    async def main() -> None:
        ch: tl.Channel[str] = tl.Channel(0)
        got: list[str] = []

        async def body() -> str:
            try:
                async with asyncio.timeout(0.02):
                    got.append(await ch.arecv())
            except TimeoutError:
                return "timed out"
            await asyncio.sleep(0)  # a stray cancellation would surface here
            return "received"

        task = asyncio.ensure_future(body())
        await parked(task)
        assert ch.try_send("v")
        time.sleep(0.05)  # block the loop: the timeout is due with the value
        try:
            outcome = await task
        except asyncio.CancelledError:
            outcome = "cancelled outside the timeout block"
        assert outcome in ("timed out", "received")
        assert got + drain(ch) == ["v"]
        assert (outcome == "received") == bool(got)

    run(main())


# -- threadline scopes inside coroutines -------------------------------------------------------


def test_tl_timeout_in_a_coroutine_does_not_block_the_loop() -> None:
    async def main() -> int:
        ticks = [0]

        async def ticker() -> None:
            while True:
                ticks[0] += 1
                await asyncio.sleep(0.001)

        ticking = asyncio.ensure_future(ticker())
        ch: tl.Channel[int] = tl.Channel(0)
        with pytest.raises(TimeoutError) as info:
            with tl.timeout(0.05) as scope:
                await ch.arecv()
        assert isinstance(info.value.__cause__, tl.Cancelled)
        assert scope.cancelled_caught
        assert not ch.try_send(1)
        ticking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await ticking
        return ticks[0]

    assert run(main()) > 1  # other tasks ran while the receive waited


@pytest.mark.parametrize("op", ["arecv", "asend", "aselect"])
def test_tl_timeout_cuts_short_every_async_op(op: str) -> None:
    ops: dict[str, Callable[[tl.Channel[int]], Awaitable[Any]]] = {
        "arecv": lambda ch: ch.arecv(),
        "asend": lambda ch: ch.asend(1),
        "aselect": lambda ch: tl.aselect(ch, (ch, 2), None),
    }

    async def main() -> None:
        ch: tl.Channel[int] = tl.Channel(0)
        with pytest.raises(TimeoutError), tl.timeout(0.03):
            await ops[op](ch)
        assert ch.try_recv() == (None, False)
        assert not ch.try_send(3)

    run(main())


def test_cancel_scope_in_a_coroutine_cancelled_from_another_thread() -> None:
    async def main() -> None:
        ch: tl.Channel[int] = tl.Channel(0)
        scope = tl.CancelScope()
        reached: list[str] = []

        async def victim() -> None:
            with scope:
                await ch.arecv()
                reached.append("received")  # pragma: no cover
            reached.append("after scope")

        task = asyncio.ensure_future(victim())
        await parked(task)
        join_all([spawn(scope.cancel)])
        await asyncio.wait_for(task, HANG)
        assert reached == ["after scope"]
        assert scope.cancelled_caught
        assert not ch.try_send(1)

    run(main())


def test_scopes_belong_to_their_task() -> None:
    async def main() -> None:
        ch: tl.Channel[int] = tl.Channel(0)

        async def other() -> int:
            return await ch.arecv()

        bystander = asyncio.ensure_future(other())  # created outside the scope
        await parked(bystander)
        with tl.CancelScope() as scope:
            scope.cancel()
            with pytest.raises(tl.Cancelled):
                tl.checkpoint()
            with pytest.raises(tl.Cancelled):
                await ch.arecv()
            assert ch.try_send(7)  # the bystander was not cancelled
        assert await bystander == 7
        assert not scope.cancelled_caught

    run(main())


def test_checkpoint_in_a_coroutine() -> None:
    async def main() -> None:
        tl.checkpoint()
        with tl.CancelScope() as scope:
            tl.checkpoint()
            scope.cancel()
            tl.checkpoint()
            pytest.fail("checkpoint did not raise")  # pragma: no cover
        assert scope.cancelled_caught

    run(main())


def test_waiter_of_a_closed_loop_gets_no_value() -> None:
    """Regression: a task left parked in arecv when its loop was closed
    used to swallow the next value sent."""
    ch: tl.Channel[str] = tl.Channel(0)
    loop = asyncio.new_event_loop()
    task = loop.create_task(ch.arecv())
    loop.run_until_complete(asyncio.sleep(0.01))  # the task parks
    loop.close()  # without cancelling it
    assert not ch.try_send("v")  # nobody can take it: not handed to the dead task
    assert ch.try_recv() == (None, False)
    del task


# -- blocking sync operations on an event loop's thread -----------------------------------------


def _blocking_in_a_loop() -> dict[str, tuple[Callable[[dict[str, Any]], object], str]]:
    """Sync operations that would block, each with the async form its error names."""

    def wait_group(env: dict[str, Any]) -> None:
        wg = tl.WaitGroup()
        wg.add(1)
        wg.wait()

    return {
        "recv": (lambda env: env["ch"].recv(), r"Channel\.recv\(\).*await ch\.arecv\(\)"),
        "recv-timeout": (lambda env: env["ch"].recv(timeout=HANG), r"await ch\.arecv\(\)"),
        "send": (lambda env: env["ch"].send(1), r"Channel\.send\(\).*await ch\.asend"),
        "iteration": (lambda env: next(env["ch"]), r"iterating.*async for"),
        "select": (lambda env: tl.select(env["ch"], None), r"select\(\).*await tl\.aselect"),
        "sleep": (lambda env: tl.sleep(HANG), r"tl\.sleep\(\).*await asyncio\.sleep"),
        "WaitGroup.wait": (wait_group, r"WaitGroup\.wait\(\).*asyncio\.to_thread"),
        "Task.result": (lambda env: env["task"].result(), r"Task\.result\(\).*await task"),
        "Task.exception": (lambda env: env["task"].exception(), r"await task"),
        "Once.do": (lambda env: env["once"].do(lambda: None), r"Once\.do\(\).*to_thread"),
    }


BLOCKING_IN_A_LOOP = _blocking_in_a_loop()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("op", sorted(BLOCKING_IN_A_LOOP))
def test_blocking_sync_operation_in_a_coroutine_raises_instead_of_blocking_the_loop(
    op: str,
) -> None:
    """Regression: a sync operation in a coroutine blocked the whole event loop (and
    hung for good when its partner was a coroutine on that loop)."""
    call, names = BLOCKING_IN_A_LOOP[op]
    release = threading.Event()
    running = threading.Event()
    once = tl.Once()

    def slow_init() -> None:
        running.set()
        release.wait(HANG)

    env: dict[str, Any] = {"ch": tl.Channel(), "once": once}
    initializer = spawn(once.do, slow_init)
    try:
        with tl.TaskGroup() as tg:
            env["task"] = tg.go(release.wait, HANG)
            assert running.wait(HANG)

            async def main() -> None:
                ticks = 0

                async def ticker() -> None:
                    nonlocal ticks
                    while True:
                        ticks += 1
                        await asyncio.sleep(0)

                other = asyncio.create_task(ticker())
                await asyncio.sleep(0)
                with pytest.raises(RuntimeError, match=names):
                    call(env)
                other.cancel()
                assert ticks >= 1

            asyncio.run(main())
            assert not env["task"].done()
            release.set()
    finally:
        release.set()
        join_all([initializer])
    ch = env["ch"]
    assert (ch._recvq, ch._sendq) == (deque(), deque())  # nothing left queued
    assert not once._waiters


@pytest.mark.timeout(20)
def test_sync_recv_with_its_partner_on_the_same_loop_raises_instead_of_hanging() -> None:
    async def main() -> int:
        ch: tl.Channel[int] = tl.Channel()
        partner = asyncio.create_task(ch.asend(42))  # runs once this coroutine yields
        with pytest.raises(RuntimeError, match="arecv"):
            ch.recv()  # its partner cannot run while this thread blocks
        value = await ch.arecv()
        await partner
        return value

    assert run(main()) == 42


def test_sync_operations_that_need_not_block_work_in_a_coroutine() -> None:
    """Only the path about to block is refused."""
    with tl.TaskGroup() as tg:
        task = tg.go(lambda: 5)
    once = tl.Once()
    once.do(lambda: None)

    async def main() -> None:
        ch: tl.Channel[int] = tl.Channel(1)
        ch.send(1)
        assert ch.recv() == 1
        ch.send(2)
        assert tl.select(ch, None).value == 2
        assert task.result() == 5
        assert task.exception() is None
        tl.WaitGroup().wait()
        tl.sleep(0)
        once.do(lambda: None)
        with pytest.raises(TimeoutError):
            ch.recv(timeout=0)  # gives up at once: does not block either

    run(main())


def test_a_partner_that_completed_the_operation_first_wins_over_the_refusal() -> None:
    """A refused wait that a partner had already completed returns normally:
    a send that raised delivered nothing, a value received is not lost."""
    waiter = Waiter()
    waiter.fire(0, "value", True)

    async def main() -> None:
        _scope.park(waiter, None, what="x", instead="y")  # returns: nothing to wait for

    run(main())
    assert (waiter.case, waiter.value) == (0, "value")


# -- arecv / __anext__ receive when awaited, not when called ---------------------


def test_an_arecv_cancelled_before_it_ran_takes_no_value() -> None:
    async def main() -> None:
        ch: tl.Channel[int] = tl.Channel(1)
        ch.try_send(7)
        task = asyncio.create_task(ch.arecv())  # asyncio takes it as a coroutine
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ch.try_recv() == (7, True)

        ch.try_send(8)
        step = ch.arecv()
        step.close()  # never awaited
        anext_step = ch.__anext__()
        with pytest.raises(KeyError):
            anext_step.throw(KeyError("thrown in before the first step"))
        assert ch.try_recv() == (8, True)

    run(main())


@pytest.mark.parametrize(
    "value", [None, (1, 2), (), ValueError("a value"), StopIteration(3), [4], "text"], ids=repr
)
def test_arecv_and_async_for_return_any_value_unchanged(value: object) -> None:
    # (A value is returned through StopIteration: a tuple or an exception
    # must not be taken for its arguments.)
    async def main() -> None:
        ch: tl.Channel[object] = tl.Channel(3)
        for _ in range(3):
            ch.try_send(value)
        ch.close()
        assert await ch.arecv() is value
        assert await asyncio.wait_for(ch.arecv(), HANG) is value
        assert [v async for v in ch] == [value]
        assert all(v is value for v in [value])

    run(main())


def test_arecv_checks_its_timeout_when_called() -> None:
    ch: tl.Channel[int] = tl.Channel()
    with pytest.raises(ValueError, match="timeout"):
        ch.arecv(timeout=-1)
    with pytest.raises(TypeError, match="timeout"):
        ch.arecv(timeout="1")  # type: ignore[arg-type]


def test_an_arecv_awaited_twice_raises() -> None:
    async def main() -> None:
        ch: tl.Channel[int] = tl.Channel(2)
        ch.try_send(1)
        ch.try_send(2)
        step = ch.arecv()
        assert await step == 1
        with pytest.raises(RuntimeError, match="await"):
            await step
        assert ch.try_recv() == (2, True)

    run(main())


def test_arecv_outside_an_event_loop_raises_and_takes_nothing() -> None:
    ch: tl.Channel[int] = tl.Channel(1)
    ch.try_send(5)
    step = ch.arecv().__await__()
    with pytest.raises(RuntimeError, match="no running event loop"):
        step.send(None)
    assert ch.try_recv() == (5, True)


def test_arecv_in_a_cancelled_scope_raises_cancelled_and_takes_nothing() -> None:
    async def main() -> None:
        ch: tl.Channel[int] = tl.Channel(1)
        ch.try_send(5)
        with tl.CancelScope() as scope:
            scope.cancel()
            with pytest.raises(tl.Cancelled):
                await ch.arecv()
            with pytest.raises(tl.Cancelled):
                await ch.__anext__()
        assert ch.try_recv() == (5, True)

    run(main())


def test_anext_ends_the_iteration_on_close_both_ready_and_parked() -> None:
    async def main() -> None:
        ch: tl.Channel[int] = tl.Channel()
        ch.close()
        with pytest.raises(StopAsyncIteration):
            await ch.__anext__()
        with pytest.raises(tl.ChannelClosed):
            await ch.arecv()

        parked_ch: tl.Channel[int] = tl.Channel()
        task = asyncio.create_task(parked_ch.__anext__())
        await parked(task)
        parked_ch.close()
        with pytest.raises(StopAsyncIteration):
            await task

    run(main())


def test_an_arecv_behaves_as_a_coroutine_when_misused() -> None:
    """Found by a newcomer's attack on the compiled awaitable: each of
    these differed from the coroutine of the pure-Python path."""

    async def main() -> None:
        ch: tl.Channel[str] = tl.Channel(4)
        ch.try_send("v")
        step = ch.arecv()
        with pytest.raises(TypeError):  # not iterable: list() would receive
            list(step)  # type: ignore[call-overload]
        step.close()
        assert len(ch) == 1

        step = ch.arecv()
        assert "arecv" in step.__qualname__  # type: ignore[attr-defined]
        assert weakref.ref(step)() is step
        with pytest.warns(RuntimeWarning, match="never awaited"):
            del step  # (freed at once: no collection needed)
        assert len(ch) == 1

        done = ch.arecv()
        assert await done == "v"
        with pytest.raises(RuntimeError, match="await"):
            done.throw(KeyError("into a finished one"))

        first = ch.__anext__()
        with pytest.raises(tl.ChannelClosed):  # thrown in before the start: as is
            first.throw(tl.ChannelClosed("thrown"))

        # a second awaiter while the first waits in it is refused, and the
        # first one's wait goes on
        shared = ch.arecv()
        owner = asyncio.ensure_future(shared)
        await parked(owner)

        async def intruder() -> str:
            return await shared

        with pytest.raises(RuntimeError, match="awaited already"):
            await intruder()
        ch.try_send("w")
        assert await asyncio.wait_for(owner, HANG) == "w"

    run(main())
