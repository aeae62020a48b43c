"""The compiled channel core (``threadline._chancore``) against the reference.

``PyChannel`` (pure Python) is the reference; ``CChannel`` is the compiled
class where it was built.  A differential test drives both with the same
random operation sequences and compares every result, error and the buffer;
the other tests pin what the compiled core adds (its lock, its select fast
path) and the interrupt rules both must keep.  The rest of the suite runs
against whichever ``tl.Channel`` is (``make test`` runs the channel suites a
second time with ``THREADLINE_PURE=1``).
"""

from __future__ import annotations

import gc
import math
import os
import subprocess
import sys
import sysconfig
import threading
import time
import weakref
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

import threadline as tl
from tests.helpers import run_python
from threadline import _channel, _select
from threadline._core._waiter import Waiter
from threadline._errors import ChannelClosed

IMPLEMENTATIONS = [pytest.param(_channel.PyChannel, id="python")]
if _channel.CChannel is not None:
    IMPLEMENTATIONS.append(pytest.param(_channel.CChannel, id="compiled"))

needs_c = pytest.mark.skipif(_channel.CChannel is None, reason="the compiled core is not built")
HANG = 10.0


# -- differential: both implementations, one operation sequence ----------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(0, 99)),
        st.tuples(st.just("try_send"), st.integers(0, 99)),
        st.tuples(st.sampled_from(["recv", "try_recv", "next", "close", "len", "closed"])),
    ),
    max_size=40,
)


def _apply(ch: Any, op: tuple[Any, ...]) -> object:
    """One operation, from one thread, that never blocks: a send or recv
    that would wait is made with ``timeout=0``."""
    name = op[0]
    try:
        if name == "send":
            ch.send(op[1], timeout=0)
            return "sent"
        if name == "try_send":
            return ch.try_send(op[1])
        if name == "recv":
            return ch.recv(timeout=0)
        if name == "try_recv":
            return ch.try_recv()
        if name == "next":
            return next(ch, "stopped")  # __next__ blocks when empty and open
        if name == "close":
            ch.close()
            return None
        if name == "len":
            return len(ch)
        return ch.closed
    except (ChannelClosed, TimeoutError) as exc:
        return type(exc).__name__, str(exc)


@needs_c
@settings(max_examples=300, deadline=None)
@given(capacity=st.sampled_from([0, 1, 2, 3, 7, math.inf]), ops=operations)
def test_both_implementations_agree(capacity: int | float, ops: list[tuple[Any, ...]]) -> None:
    py = _channel.PyChannel(capacity)
    c = _channel.CChannel(capacity)  # type: ignore[misc]
    for op in ops:
        if op[0] == "next" and not py.closed and len(py) == 0:
            continue  # it would block
        assert _apply(c, op) == _apply(py, op), op
        assert list(c._buf) == list(py._buf)
        assert (len(c._sendq), len(c._recvq)) == (len(py._sendq), len(py._recvq))
        assert c.closed == py.closed
    assert repr(c) == repr(py)
    c._check_invariants()


@needs_c
def test_the_compiled_path_is_the_default_unless_pure_is_asked() -> None:
    code = "import threadline as tl, threadline._channel as c; print(tl.Channel is c.CChannel)"
    for pure, expected in (("", "True"), ("0", "True"), ("1", "False")):
        env = {**os.environ, "THREADLINE_PURE": pure}
        out = subprocess.run(
            [sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True
        )
        assert out.stdout.strip() == expected, (pure, out.stderr)


# -- the rules both keep ---------------------------------------------------------


class _FireRaises:
    """A parked partner whose ``fire`` is interrupted (a Ctrl-C in it)."""

    def fire(self, case: int, value: object = None, ok: bool = True) -> bool:
        raise KeyboardInterrupt

    fired = False


@pytest.mark.parametrize("cls", IMPLEMENTATIONS)
def test_an_interrupt_in_a_partners_fire_loses_no_value(cls: Any) -> None:
    """Regression: a receive that took a buffered value and was then cut short
    while moving a parked sender in (an interrupt in its waiter's fire) lost
    the value it had taken."""
    ch = cls(1)
    ch.send(1)
    ch._sendq.append(_channel._Entry(_FireRaises(), 0, 2))  # type: ignore[arg-type]
    receives = [ch.recv, ch.try_recv, lambda: next(ch)]
    if cls is tl.Channel:  # select takes the channels of the path in use
        receives += [lambda: tl.select(ch, None), lambda: tl.try_select(ch, None)]
    for receive in receives:
        with pytest.raises(KeyboardInterrupt):
            receive()
        assert list(ch._buf) == [1], "the value is back at the head"
        assert not ch._lock.locked()
        ch._sendq.append(_channel._Entry(_FireRaises(), 0, 2))  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", IMPLEMENTATIONS)
def test_a_hand_over_wakes_the_parked_partner(cls: Any) -> None:
    ch = cls(0)
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(ch.recv(timeout=HANG)))
    t.start()
    deadline = time.monotonic() + HANG
    while not ch._recvq and time.monotonic() < deadline:
        time.sleep(0.001)
    assert ch.try_send("x")
    t.join(HANG)
    assert got == ["x"]


@pytest.mark.parametrize("cls", IMPLEMENTATIONS)
def test_a_value_in_a_cycle_with_its_channel_is_collected(cls: Any) -> None:
    class Box:
        pass

    ch = cls(2)
    box = Box()
    box.ch = ch  # type: ignore[attr-defined]
    ch.send(box)
    ref = weakref.ref(box)
    del ch, box
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("cls", IMPLEMENTATIONS)
def test_buf_can_be_replaced_under_the_lock(cls: Any) -> None:
    """The race detector rewrites a channel's values in place (``_buf = ...``)."""
    ch = cls(math.inf)
    for i in range(20):
        ch.send(i)
    for _ in range(5):
        ch.recv()
    with ch._lock:
        ch._buf = type(ch._buf)(v * 10 for v in ch._buf)
    assert [ch.recv() for _ in range(15)] == [v * 10 for v in range(5, 20)]
    assert ch.try_recv() == (None, False)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")  # other tests' idle workers
@pytest.mark.parametrize("cls", IMPLEMENTATIONS)
def test_a_forked_child_uses_the_channel(cls: Any) -> None:
    ch = cls(4)
    ch.send(1)
    ch.send(2)
    # A thread that used the channel and ended: its lock state is not left behind.
    t = threading.Thread(target=lambda: (ch.send(3), ch.recv()))
    t.start()
    t.join(HANG)
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        ok = False
        try:
            ok = ch.recv() == 2 and ch.recv() == 3 and ch.try_send(4)
            ch.close()
            ok = ok and ch.recv() == 4
            try:
                ch.try_recv()
                ok = False
            except ChannelClosed:
                pass
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [ch.recv(), ch.recv()] == [2, 3]  # the parent's copy is untouched


# -- the compiled core's own parts ---------------------------------------------------


@needs_c
def test_the_lock_is_re_entrant_and_released_only_by_its_owner() -> None:
    lock = _channel.CChannel(0)._lock  # type: ignore[misc]
    assert not lock.locked()
    assert not lock._is_owned()
    assert lock.acquire()
    assert lock.acquire()
    assert lock.locked()
    assert lock._is_owned()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            lock.release()
        except RuntimeError as exc:
            errors.append(exc)
        errors.append(lock.acquire(timeout=0.01))  # type: ignore[arg-type]
        errors.append(lock.acquire(False))  # type: ignore[arg-type]

    t = threading.Thread(target=other)
    t.start()
    t.join(HANG)
    assert [type(e) for e in errors] == [RuntimeError, bool, bool]
    assert errors[1:] == [False, False]
    lock.release()
    lock.release()
    assert not lock.locked()
    with pytest.raises(RuntimeError):
        lock.release()
    with pytest.raises(ValueError, match="timeout"):
        lock.acquire(False, 1.0)


@needs_c
def test_a_thread_waiting_for_the_lock_gets_it_when_released() -> None:
    lock = _channel.CChannel(0)._lock  # type: ignore[misc]
    order: list[str] = []
    with lock:
        t = threading.Thread(target=lambda: (lock.acquire(), order.append("other"), lock.release()))
        t.start()
        time.sleep(0.05)
        order.append("owner")
    t.join(HANG)
    assert order == ["owner", "other"]
    assert not lock.locked()


@needs_c
def test_many_threads_share_one_channel_lock(tiny_switch: None) -> None:
    ch = _channel.CChannel(math.inf)  # type: ignore[misc]
    counter = [0]

    def work() -> None:
        for _ in range(2000):
            with ch._lock:
                value = counter[0]
                if value % 97 == 0:
                    time.sleep(0)  # let another thread try the lock meanwhile
                counter[0] = value + 1
            ch.send(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG)
    assert counter[0] == 8000
    assert len(ch) == 8000
    assert not ch._lock.locked()


@needs_c
def test_select_fast_path_chooses_as_the_python_select_does() -> None:
    """The compiled select's fast path and the Python select visit ready
    cases in the same (seedable) random order."""

    def run(select: Any) -> list[tuple[int, object, bool]]:
        _select._rng.seed(1234)
        chans = [_channel.CChannel(100) for _ in range(4)]  # type: ignore[misc]
        for k, ch in enumerate(chans):
            for i in range(30):
                ch.send((k, i))
        chans[2].close()
        picked = []
        for _ in range(60):
            sel = select(chans[0], None, chans[1], chans[2], chans[3])
            picked.append(tuple(sel))
            assert type(sel) is tl.Selected
        return picked

    if _select.select is _select._select_py:
        pytest.skip("the Python path is in use (THREADLINE_PURE=1)")
    assert run(_select.select) == run(_select._select_py)


@needs_c
@pytest.mark.parametrize(
    "call",
    [
        lambda s, a: s(a, timeout=0.001),  # a timeout
        lambda s, a: s(a, (a, 1)),  # a send case
        lambda s, a: s(a, "bad"),  # a bad case: the general path's error
    ],
)
def test_select_hands_other_calls_to_the_general_path(call: Any) -> None:
    if _select.select is _select._select_py:
        pytest.skip("the Python path is in use (THREADLINE_PURE=1)")
    a = tl.Channel(1)
    try:
        want: object = call(_select._select_py, a)
    except Exception as exc:
        want = (type(exc), str(exc))
    a = tl.Channel(1)
    try:
        got: object = call(_select.select, a)
    except Exception as exc:
        got = (type(exc), str(exc))
    assert got == want


def test_waiter_fire_is_what_the_core_calls() -> None:
    """The core wakes a parked partner through ``Waiter.fire(case, value, ok)``."""
    w = Waiter()
    assert w.fire(3, "v", True)
    assert not w.fire(1, None, False)
    assert (w.case, w.value, w.ok) == (3, "v", True)


# -- Selected, made and freed by the core ------------------------------------------

needs_c_select = pytest.mark.skipif(
    _select.select is _select._select_py, reason="the Python select is in use"
)
FREE_THREADED = sysconfig.get_config_var("Py_GIL_DISABLED") == 1


class _Box:
    """A value the tests can watch die (ints cannot carry weak references)."""

    def __init__(self) -> None:
        self.held: object = None


def _selected_from_core(value: object) -> Any:
    ch: tl.Channel[object] = tl.Channel(1)
    ch.send(value)
    sel = _select.select(ch, None)
    assert type(sel) is tl.Selected
    return sel


@needs_c_select
def test_a_selected_lets_go_of_its_value_and_its_type() -> None:
    """The core frees a Selected itself (not through subtype_dealloc): its
    value dies with it, and the class's reference count comes back."""
    box = _Box()
    dead = weakref.ref(box)
    sel = _selected_from_core(box)
    del box
    assert sel.value is dead()
    del sel
    assert dead() is None
    if not FREE_THREADED:  # a free-threaded build counts a type's references per thread
        before = sys.getrefcount(tl.Selected)
        for _ in range(1000):
            _selected_from_core(1)
        after = sys.getrefcount(tl.Selected)  # outside the assert, which holds the class
        assert after == before


@needs_c_select
def test_a_selected_in_a_reference_cycle_is_collected() -> None:
    box = _Box()
    box.held = _selected_from_core(box)
    dead = weakref.ref(box)
    del box
    gc.collect()
    assert dead() is None


def test_a_deep_chain_of_selected_is_freed_without_overflowing_the_stack() -> None:
    """Freeing a Selected that holds a Selected ... a million deep unwinds
    iteratively (the trashcan), as it does for tuples."""
    code = (
        "import threadline as tl\n"
        "s = tl.Selected(0, None, True)\n"
        "for _ in range(1_000_000):\n"
        "    s = tl.Selected(0, s, True)\n"
        "del s\n"
        "print('freed')\n"
    )
    done = run_python(code, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "freed"), done.stderr[-2000:]


def test_subclasses_of_selected_are_freed_as_their_own_class_says() -> None:
    """A subclass (with a __dict__ and a finalizer) keeps
    the generic dealloc, which calls the core's as its base's: every field
    is released and the finalizer runs exactly once."""
    finalized: list[int] = []

    class Rich(tl.Selected):  # type: ignore[type-arg]
        def __del__(self) -> None:
            finalized.append(self.index)

    box = _Box()
    dead_box = weakref.ref(box)
    rich = Rich(7, box, True)
    rich.extra = _Box()  # type: ignore[attr-defined]
    dead_extra = weakref.ref(rich.extra)  # type: ignore[attr-defined]
    del box
    if not FREE_THREADED:
        before = sys.getrefcount(Rich)
    del rich
    assert (dead_box(), dead_extra()) == (None, None)
    assert finalized == [7]
    if not FREE_THREADED:
        after = sys.getrefcount(Rich)
        assert after == before - 1
    plain = tl.Selected(1, _Box(), False)  # made by tuple.__new__, freed by the core's dealloc
    assert plain == (1, plain.value, False)
    del plain


@needs_c
def test_setup_select_refuses_a_visiting_order_table_that_differs() -> None:
    """Both paths must visit cases in the same order for a seed to replay
    alike, so the core checks the Python table against its own."""
    _chancore: Any = _channel._chancore
    table = [list(perms) for perms in _select._PERMUTATIONS]
    table[3] = list(reversed(table[3]))
    with pytest.raises(ValueError, match="permutations differ"):
        _chancore._setup_select(_channel.CChannel, tl.Selected, table, _select._select_py)
    # the refused call changed nothing: the fast path still answers
    ch: tl.Channel[int] = tl.Channel(1)
    ch.send(1)
    assert tl.select(ch) == (0, 1, True)


@needs_c_select
def test_the_core_makes_a_selected_of_a_class_with_another_layout_generically() -> None:
    """Given a result class it cannot free itself (here one with a
    __dict__), the core allocates through the class and leaves its dealloc
    alone; the real class is set up again afterwards."""
    _chancore: Any = _channel._chancore

    class WithDict(tuple):  # type: ignore[type-arg]
        pass

    args = (_channel.CChannel, WithDict, _select._PERMUTATIONS, _select._select_py)
    _chancore._setup_select(*args)
    try:
        box = _Box()
        dead = weakref.ref(box)
        sel = _select.select(_loaded(box), None)
        assert type(sel) is WithDict
        assert tuple(sel) == (0, box, True)
        sel.note = "a dict works"  # type: ignore[attr-defined]
        del box, sel
        assert dead() is None
    finally:
        _chancore._setup_select(_channel.CChannel, tl.Selected, *args[2:])
    assert type(_selected_from_core(1)) is tl.Selected


def _loaded(value: object) -> tl.Channel[object]:
    ch: tl.Channel[object] = tl.Channel(1)
    ch.send(value)
    return ch


def test_a_finalizer_given_to_selected_itself_runs_when_the_core_frees_one() -> None:
    code = (
        "import threadline as tl\n"
        "tl.Selected.__del__ = lambda self: print('finalized', self.index)\n"
        "ch = tl.Channel(1)\n"
        "ch.send(1)\n"
        "tl.select(None, ch)\n"
        "print('done')\n"
    )
    done = run_python(code)
    assert done.stdout.split("\n")[:2] == ["finalized 1", "done"], done.stderr[-2000:]
