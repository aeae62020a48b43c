"""Property tests of WaitGroup and TaskGroup against simple models."""

from __future__ import annotations

import time

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import threadline as tl


class WaitGroupModel(RuleBasedStateMachine):
    """A WaitGroup in one thread behaves like an int that must stay >= 0."""

    def __init__(self) -> None:
        super().__init__()
        self.wg = tl.WaitGroup()
        self.count = 0

    @rule(n=st.integers(min_value=-5, max_value=5))
    def add(self, n: int) -> None:
        if self.count + n < 0:
            with pytest.raises(ValueError, match="below zero"):
                self.wg.add(n)
        else:
            self.wg.add(n)
            self.count += n

    @rule()
    def done(self) -> None:
        if self.count == 0:
            with pytest.raises(ValueError, match="more times than add"):
                self.wg.done()
        else:
            self.wg.done()
            self.count -= 1

    @rule()
    def wait_now(self) -> None:
        if self.count:
            with pytest.raises(TimeoutError):
                self.wg.wait(timeout=0)
        else:
            self.wg.wait(timeout=0)

    @invariant()
    def counts_agree(self) -> None:
        assert self.wg.count == self.count


TestWaitGroupModel = WaitGroupModel.TestCase
TestWaitGroupModel.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)


class Boom(Exception):
    pass


# A task's behaviour: ("value", n) returns n; ("raise", n) raises Boom(n);
# ("cancel-self", n) cancels its own task and then blocks, so it ends Cancelled.
behaviours = st.lists(
    st.tuples(st.sampled_from(["value", "raise", "cancel-self"]), st.integers(0, 99)),
    min_size=1,
    max_size=8,
)


def run_behaviour(kind: str, n: int, me: list[tl.Task[int]]) -> int:
    if kind == "raise":
        raise Boom(n)
    if kind == "cancel-self":
        while not me:  # the task may start before go() has returned its handle
            time.sleep(0)
        me[0].cancel()
        tl.sleep(30)  # cancelled: never sleeps this long
    return n


@settings(max_examples=40, deadline=None)
@given(plan=behaviours)
def test_taskgroup_outcome_matches_model(plan: list[tuple[str, int]]) -> None:
    """Without failures every value comes back and self-cancellation is not
    an error; with failures the group raises exactly the failures that ran,
    at least one of them, and never a Cancelled."""
    tasks: list[tl.Task[int]] = []
    failures: list[int] | None = None
    try:
        with tl.TaskGroup() as tg:
            for kind, n in plan:
                me: list[tl.Task[int]] = []
                task = tg.go(run_behaviour, kind, n, me)
                me.append(task)
                tasks.append(task)
    except ExceptionGroup as group:
        failures = [e.args[0] if isinstance(e, Boom) else e for e in group.exceptions]
    raising = sorted(n for kind, n in plan if kind == "raise")
    if not raising:
        assert failures is None
        for (kind, n), task in zip(plan, tasks, strict=True):
            if kind == "value":
                assert task.result() == n
            else:
                with pytest.raises(tl.Cancelled):
                    task.result()
    else:
        assert failures  # the first failure always gets through
        assert set(failures) <= set(raising)  # nothing but Boom, nothing made up
        for task in tasks:
            assert task.done()
