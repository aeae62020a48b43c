"""A single-threaded Channel checked against a sequential model.

Three channels (capacities drawn from 0, 1, 2, 3 and inf) are driven by
hypothesis through every operation that cannot block in a single thread;
each is mirrored on a model (a deque and a closed flag), and every result,
error and ``len`` must agree with it.  select / try_select may pick any
ready case (the choice is random), so the model checks that the case chosen
was ready and then applies its effect.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import threadline as tl
from threadline import _select

CAPACITIES = [0, 1, 2, 3, math.inf]
N_CHANNELS = 3

channel_index = st.integers(0, N_CHANNELS - 1)
# 0 and 0.0 never wait; None and a positive timeout are used only where the
# model says the operation completes at once (else it would block).
timeouts = st.sampled_from([0, 0.0, None, 5.0])
case_kinds = st.sampled_from(["recv", "send", "none"])
cases_strategy = st.lists(st.tuples(case_kinds, channel_index), min_size=1, max_size=3)


@dataclass
class Model:
    capacity: float
    buf: deque[int] = field(default_factory=deque)
    closed: bool = False

    @property
    def can_send(self) -> bool:  # would a send complete at once (no receiver parks here)
        return not self.closed and len(self.buf) < self.capacity

    @property
    def can_recv(self) -> bool:  # would a receive return at once (value or closed)
        return bool(self.buf) or self.closed


class ChannelMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.channels: list[tl.Channel[int]] = []
        self.models: list[Model] = []
        self.next_value = 0
        _select._rng.seed(0)  # the same choices when hypothesis replays an example

    def fresh(self) -> int:
        self.next_value += 1
        return self.next_value

    @initialize(capacities=st.lists(st.sampled_from(CAPACITIES), min_size=3, max_size=3))
    def create(self, capacities: list[float]) -> None:
        for capacity in capacities:
            self.channels.append(tl.Channel(capacity))
            self.models.append(Model(capacity))

    # -- single-channel operations -------------------------------------------------------

    @rule(i=channel_index)
    def try_send(self, i: int) -> None:
        ch, model, value = self.channels[i], self.models[i], self.fresh()
        if model.closed:
            with pytest.raises(tl.ChannelClosed):
                ch.try_send(value)
        elif model.can_send:
            assert ch.try_send(value) is True
            model.buf.append(value)
        else:
            assert ch.try_send(value) is False

    @rule(i=channel_index)
    def try_recv(self, i: int) -> None:
        ch, model = self.channels[i], self.models[i]
        if model.buf:
            assert ch.try_recv() == (model.buf.popleft(), True)
        elif model.closed:
            with pytest.raises(tl.ChannelClosed):
                ch.try_recv()
        else:
            assert ch.try_recv() == (None, False)

    @rule(i=channel_index, timeout=timeouts)
    def send(self, i: int, timeout: float | None) -> None:
        ch, model, value = self.channels[i], self.models[i], self.fresh()
        if model.closed:
            with pytest.raises(tl.ChannelClosed):
                ch.send(value, timeout=timeout)
        elif model.can_send:
            ch.send(value, timeout=timeout)
            model.buf.append(value)
        else:
            with pytest.raises(TimeoutError):
                ch.send(value, timeout=0)

    @rule(i=channel_index, timeout=timeouts)
    def recv(self, i: int, timeout: float | None) -> None:
        ch, model = self.channels[i], self.models[i]
        if model.buf:
            assert ch.recv(timeout=timeout) == model.buf.popleft()
        elif model.closed:
            with pytest.raises(tl.ChannelClosed):
                ch.recv(timeout=timeout)
        else:
            with pytest.raises(TimeoutError):
                ch.recv(timeout=0)

    @rule(i=channel_index, with_statement=st.booleans())
    def close(self, i: int, with_statement: bool) -> None:
        ch, model = self.channels[i], self.models[i]
        if with_statement:
            with ch as entered:
                assert entered is ch
        else:
            ch.close()
        model.closed = True

    @rule(i=channel_index)
    def iterate_closed(self, i: int) -> None:
        ch, model = self.channels[i], self.models[i]
        if model.closed:  # iterating an open channel would wait for more
            assert list(ch) == list(model.buf)
            model.buf.clear()

    # -- select ------------------------------------------------------------------------

    def build_cases(self, spec: list[tuple[str, int]]) -> list[Any]:
        cases: list[Any] = []
        for kind, i in spec:
            if kind == "recv":
                cases.append(self.channels[i])
            elif kind == "send":
                cases.append((self.channels[i], self.fresh()))
            else:
                cases.append(None)
        return cases

    def expected_select(self, spec: list[tuple[str, int]]) -> tuple[set[int], bool]:
        """(indexes of cases ready to complete, whether a send case would raise)."""
        ready = set()
        raises = False
        for index, (kind, i) in enumerate(spec):
            model = self.models[i]
            if kind == "recv" and model.can_recv:
                ready.add(index)
            elif kind == "send" and model.closed:
                raises = True
            elif kind == "send" and model.can_send:
                ready.add(index)
        return ready, raises

    def apply_selected(self, spec: list[tuple[str, int]], cases: list[Any], sel: Any) -> None:
        kind, i = spec[sel.index]
        model = self.models[i]
        if kind == "send":
            assert sel == (sel.index, None, True)
            model.buf.append(cases[sel.index][1])
        elif model.buf:
            assert sel == (sel.index, model.buf.popleft(), True)
        else:
            assert model.closed
            assert sel == (sel.index, None, False)

    @rule(spec=cases_strategy, mode=st.sampled_from(["try", "timeout0", "block"]))
    def select(self, spec: list[tuple[str, int]], mode: str) -> None:
        cases = self.build_cases(spec)
        ready, raises = self.expected_select(spec)
        has_channel = any(kind != "none" for kind, _ in spec)
        if mode == "block" and not ready and not raises:
            mode = "timeout0"  # a blocking select would wait forever here

        def run() -> Any:
            if mode == "try":
                return tl.try_select(*cases)
            if mode == "timeout0":
                return tl.select(*cases, timeout=0)
            return tl.select(*cases)

        if mode == "try" and not has_channel:
            with pytest.raises(ValueError):
                run()
            return
        if not ready and not raises:
            if mode == "try":
                assert run() is None
            else:
                with pytest.raises(TimeoutError):
                    run()
            return
        try:
            sel = run()
        except tl.ChannelClosed:
            assert raises, "ChannelClosed from a select with no send to a closed channel"
            return
        assert isinstance(sel, tl.Selected)
        assert sel.index in ready, (sel, ready, spec)
        self.apply_selected(spec, cases, sel)

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def agrees_with_model(self) -> None:
        for ch, model in zip(self.channels, self.models, strict=True):
            assert len(ch) == len(model.buf)
            assert ch.closed == model.closed
            assert ch.capacity == model.capacity


ChannelMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no slow 'explain' phase
    suppress_health_check=[HealthCheck.too_slow],
)
TestChannelModel = ChannelMachine.TestCase
