"""pmap's backends: the contract's rules on every backend, then what is
particular to processes (pickling, batching, crashes), executors, the
interpreters backend, ``"auto"`` and the progress display."""

from __future__ import annotations

import concurrent.futures
import functools
import gc
import itertools
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

import threadline as tl
from threadline._parallel import _backends, _batches, _procs, _progress
from threadline._parallel._engine import Driver, Engine
from threadline._parallel._pmap import PMap

from . import workers as w

pytestmark = pytest.mark.timeout(60)

BACKENDS = ["threads", "processes", "thread-executor", "process-executor"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "thread-executor":
        with concurrent.futures.ThreadPoolExecutor(3) as executor:
            yield executor
    elif request.param == "process-executor":
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=_procs_context()) as executor:
            yield executor
    else:
        yield request.param


def _procs_context() -> Any:
    return _procs.context()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pids: list[int], seconds: float = 5.0) -> None:
    """Every process in *pids* has exited, except those parked idle for reuse."""
    pids = [pid for pid in pids if pid not in _procs.idle_pids()]
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not [pid for pid in pids if alive(pid)], "worker processes left running"


def runner_pids(results: tl.PMap[Any]) -> list[int]:
    return list(results._engine.runner.pids)  # type: ignore[attr-defined]


# -- the contract on every backend ---------------------------------------------


def test_ordered_matches_map(backend: Any) -> None:
    assert list(tl.pmap(w.square, range(300), backend=backend, workers=2)) == [
        x * x for x in range(300)
    ]


def test_unordered_yields_each_result_once(backend: Any) -> None:
    out = list(tl.pmap(w.square, range(200), backend=backend, workers=2, ordered=False))
    assert sorted(out) == [x * x for x in range(200)]


def test_empty_input(backend: Any) -> None:
    assert list(tl.pmap(w.square, [], backend=backend)) == []


def test_input_is_taken_only_as_results_are(backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The window counts items on threads and batches elsewhere; batches of
    # at most 4 items here, so that bound is tight too.
    monkeypatch.setattr(_batches, "MAX_ITEMS", 4)
    taken = itertools.count()

    def source() -> Iterator[int]:
        for i in itertools.count():
            next(taken)
            yield i

    with tl.pmap(w.square, source(), backend=backend, workers=2, window=6) as results:
        assert [next(results) for _ in range(5)] == [0, 1, 4, 9, 16]
        time.sleep(0.2)
        # 5 handed out, so at most 5 + window items (or batches) were ever taken
        per_credit = 1 if backend == "threads" else _batches.MAX_ITEMS
        assert next(taken) <= 5 + 6 * per_credit


def test_failure_yields_earlier_results_then_raises(backend: Any) -> None:
    seen = []
    with pytest.raises(ValueError, match="bad item 7") as info:
        for r in tl.pmap(w.fail_at_7, range(100), backend=backend, workers=2):
            seen.append(r)
    assert seen == list(range(7))
    if backend != "threads" and not isinstance(backend, concurrent.futures.ThreadPoolExecutor):
        # the worker's traceback comes along as a note
        assert any("fail_at_7" in note for note in info.value.__notes__)


@pytest.mark.parametrize(
    ("fn", "kind"),
    [
        (w.interrupt_at_7, KeyboardInterrupt),
        (w.exit_at_7, SystemExit),
        (w.cancelled_at_7, tl.Cancelled),
    ],
)
def test_any_exception_from_fn_is_that_items_failure(
    backend: Any, fn: Callable[[int], int], kind: type[BaseException]
) -> None:
    # Regression: these are not Exceptions.  On threads a Cancelled ended in
    # "pmap lost the result of item 7"; in a worker process each of them
    # killed the worker (BrokenProcessPool); multiprocessing.Pool hangs.
    # concurrent.futures delivers them as the item's exception, and so does
    # pmap, on every backend.
    seen = []
    with pytest.raises(kind, match=r"(at|for) 7") as info:
        for r in tl.pmap(fn, range(100), backend=backend, workers=2):
            seen.append(r)
    assert seen == list(range(7))
    if backend != "threads" and not isinstance(backend, concurrent.futures.ThreadPoolExecutor):
        assert any(fn.__name__ in note for note in info.value.__notes__)


def test_leaving_early_stops_the_work(backend: Any) -> None:
    results = tl.pmap(w.sleep_then_square, itertools.count(), backend=backend, workers=2)
    assert next(results) == 0
    started = time.monotonic()
    results.close()
    assert time.monotonic() - started < 5
    assert list(results) == []


# -- processes ------------------------------------------------------------------


def test_processes_run_in_other_processes() -> None:
    out = list(tl.pmap(w.whoami, range(40), backend="processes", workers=2))
    assert [x for _, x in out] == list(range(40))
    assert os.getpid() not in {pid for pid, _ in out}


def test_idle_processes_are_parked_reused_and_retire(monkeypatch: pytest.MonkeyPatch) -> None:
    def pids_used() -> set[int]:
        return {
            pid for pid, _ in tl.pmap(w.whoami_slowly, range(20), backend="processes", workers=2)
        }

    first = pids_used()
    assert len(first) == 2
    assert _procs.idle_pids() == first  # parked, not running anything
    assert pids_used() == first  # reused: no start-up cost the second time

    _procs.retire_idle()
    monkeypatch.setattr(_procs, "_IDLE_SECONDS", 0.3)
    monkeypatch.setattr(_procs, "_REUSE_SECONDS", 0.2)
    third = pids_used()
    assert not third & first
    time.sleep(0.25)
    # too old to reuse: a new pmap starts fresh processes, and the old ones
    # retire by themselves
    fourth = pids_used()
    assert not fourth & third
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in third) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(alive(pid) for pid in third)


def test_a_process_idle_too_long_inside_one_pmap_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_procs, "_IDLE_SECONDS", 0.3)
    monkeypatch.setattr(_procs, "_REUSE_SECONDS", 0.2)

    def slow_source() -> Iterator[int]:
        yield 1
        time.sleep(0.5)  # longer than the child's idle limit
        yield 2

    assert list(tl.pmap(w.square, slow_source(), backend="processes", workers=1)) == [1, 4]


def test_unpicklable_fn_is_a_type_error_naming_it() -> None:
    def local(x: int) -> int:
        return x

    with pytest.raises(TypeError, match=r"fn <function .*local.*> cannot be pickled.*module level"):
        tl.pmap(local, range(3), backend="processes")
    with pytest.raises(TypeError, match="a ThreadPoolExecutor backend sends fn to its workers"):
        tl.pmap(lambda x: x, range(3), backend=concurrent.futures.ThreadPoolExecutor(1))


def test_unpicklable_item_fails_that_item() -> None:
    items: list[Any] = [0, 1, 2, threading.Lock(), 4]
    seen = []
    with pytest.raises(TypeError, match=r"pmap item 3 \(<unlocked _thread.lock.*cannot be pickled"):
        for r in tl.pmap(w.square, items, backend="processes", workers=1):
            seen.append(r)
    assert seen == [0, 1, 4]


def test_unpicklable_result_fails_that_item() -> None:
    seen = []
    with pytest.raises(TypeError, match=r"the result of pmap item 3 .*cannot be pickled"):
        for r in tl.pmap(w.unpicklable_result, range(10), backend="processes", workers=2):
            seen.append(r)
    assert seen == [0, 1, 2]


def test_exception_that_cannot_be_rebuilt_arrives_as_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="result of pmap item 2 could not be unpickled"):
        list(tl.pmap(w.raise_picky, range(5), backend="processes", workers=1))


@pytest.mark.parametrize(
    ("fn", "how"),
    [
        (w.exit_at_5, "exit code 3"),
        (w.sigkill_at_5, "signal SIGKILL"),
        (w.segfault_at_5, "signal SIGSEGV"),
    ],
)
def test_a_worker_that_dies_is_reported_naming_its_item(fn: Callable[[int], int], how: str) -> None:
    seen = []
    results = tl.pmap(fn, range(1000), backend="processes", workers=2)
    started = time.monotonic()
    with pytest.raises(BrokenProcessPool, match=rf"died \({how}\) while running item 5 \(5\)"):
        for r in results:
            seen.append(r)
    assert time.monotonic() - started < 10
    # what was yielded is valid and in order, and stops before the crash
    assert seen == list(range(len(seen)))
    assert len(seen) <= 5
    wait_gone(runner_pids(results))


def test_failure_kills_processes_running_later_items() -> None:
    results = tl.pmap(w.zero_fails_late, range(10), backend="processes", workers=3, window=3)
    started = time.monotonic()
    with pytest.raises(KeyError, match="zero"):
        list(results)
    assert time.monotonic() - started < 10  # the 60 s sleeps were cut short
    wait_gone(runner_pids(results))


def test_close_kills_a_process_in_the_middle_of_an_item() -> None:
    results = tl.pmap(w.sleep_long, range(4), backend="processes", workers=2)
    time.sleep(0.5)  # both processes are now inside time.sleep(60)
    pids = runner_pids(results)
    assert len(pids) == 2
    started = time.monotonic()
    results.close()
    assert time.monotonic() - started < 5
    wait_gone(pids)


def test_an_abandoned_iterator_kills_its_busy_processes() -> None:
    results = tl.pmap(w.sleep_long, range(4), backend="processes", workers=2)
    time.sleep(0.5)
    pids = runner_pids(results)
    assert len(pids) == 2
    del results
    gc.collect()
    wait_gone(pids)


def test_pipeline_stages_on_different_backends() -> None:
    out = tl.pipeline(
        range(30),
        tl.stage(w.square, backend="processes", workers=2),
        tl.stage(w.square, backend="threads", workers=2),
    )
    assert list(out) == [x**4 for x in range(30)]


def test_fn_that_cannot_be_loaded_in_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("only_in_the_parent")
    exec("def double(x):\n    return 2 * x\n", module.__dict__)
    monkeypatch.setitem(sys.modules, "only_in_the_parent", module)
    with pytest.raises(TypeError, match="could not be loaded in the pmap worker process"):
        list(tl.pmap(module.double, range(3), backend="processes", workers=1))


class Recording(concurrent.futures.ThreadPoolExecutor):
    """Records the size of each batch submitted to it."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.sizes: list[int] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.sizes.append(len(pickle.loads(args[2])))
        return super().submit(fn, *args, **kwargs)


def test_batches_grow_for_cheap_items_up_to_a_limit() -> None:
    with Recording(2) as executor:
        out = list(tl.pmap(w.square, range(20_000), backend=executor, workers=2, window=4))
    assert out == [x * x for x in range(20_000)]
    assert executor.sizes[0] == 1
    assert max(executor.sizes) <= _batches.MAX_ITEMS
    assert len(executor.sizes) < 20_000 / 100  # amortised: far fewer round trips than items


def test_the_window_does_not_limit_the_batch_size() -> None:
    # Regression: the window counted items, so with the default window (24
    # for 2 workers) a batch held at most 4 items and 60,000 cheap items took
    # 15,000 round trips (2.2 s against 0.01 s for multiprocessing.Pool.map).
    with Recording(2) as executor:
        out = list(tl.pmap(w.square, range(60_000), backend=executor, workers=2))
    assert out == [x * x for x in range(60_000)]
    assert len(executor.sizes) < 200


def test_big_items_make_small_batches() -> None:
    # The window counts batches, so their size must bound the memory: a
    # batch pickles to about BATCH_BYTES at most, once sizes are measured.
    item = b"x" * (_batches.BATCH_BYTES // 4)
    with Recording(2) as executor:
        out = list(tl.pmap(w.echo, [item] * 40, backend=executor, workers=2))
    assert out == [item] * 40
    assert max(executor.sizes) <= 2  # items and results: 4 per BATCH_BYTES


def test_big_items_and_results_both_ways_do_not_jam_the_pipe() -> None:
    # Each item and result is bigger than a pipe buffer; a batch that large
    # is not sent while another is in flight, so neither side blocks writing.
    items = [bytes([i]) * 300_000 for i in range(12)]
    assert list(tl.pmap(w.echo, items, backend="processes", workers=2)) == items


def test_a_big_fn_and_big_results_do_not_jam_the_pipe() -> None:
    # Regression: fn was sent with every batch, so a prefetched message could
    # be bigger than the pipe while the child was writing a big reply.
    fn = functools.partial(w.repeat, b"x" * 2**21)
    out = list(tl.pmap(fn, range(8), backend="processes", workers=2))
    assert [len(r) for r in out] == [2**22 + 1] * 8
    assert [r[-1] for r in out] == list(range(8))


def test_a_worker_lost_while_sending_is_reported_at_the_batch_in_flight() -> None:
    # Regression: a failed send was reported at the new batch and the driver
    # returned, so the batch in flight was never received and its items lost.
    class Gone:
        def __init__(self) -> None:
            self.sent: list[int] = []

        def send(self, first: int, items: list[Any], payload: bytes) -> None:
            if self.sent:
                raise OSError("broken pipe")
            self.sent.append(first)

        def receive(self) -> bytes:
            raise BrokenProcessPool(f"died while running item {self.sent[0]}")

    class Runner:
        drivers = 1
        per_item = False

        def drive(self, engine: Engine, driver: Driver) -> None:
            _batches.drive_batches(engine, driver, Gone())

        def shutdown(self) -> None:
            pass

    results: PMap[int] = PMap(Engine(iter(range(10)), 8, Runner(), ordered=True))
    with pytest.raises(BrokenProcessPool, match="died while running item 0"):
        list(results)


def test_a_batch_held_back_by_a_lost_worker_goes_to_a_new_one() -> None:
    # The send fails while a batch is in flight, but that batch's reply had
    # already come: the held batch must be sent again, not dropped.
    class Flaky:
        def __init__(self) -> None:
            self.fail_next = True
            self.replies: list[bytes] = []

        def send(self, first: int, items: list[Any], payload: bytes) -> None:
            if self.replies and self.fail_next:
                self.fail_next = False
                raise OSError("broken pipe")
            self.replies.append(_batches.run_batch(w.square, first, payload))

        def receive(self) -> bytes:
            return self.replies.pop(0)

    class Runner:
        drivers = 1
        per_item = False

        def drive(self, engine: Engine, driver: Driver) -> None:
            _batches.drive_batches(engine, driver, Flaky())

        def shutdown(self) -> None:
            pass

    results: PMap[int] = PMap(Engine(iter(range(10)), 8, Runner(), ordered=True))
    assert list(results) == [x * x for x in range(10)]


def test_a_pmap_dropped_before_it_starts_is_cancelled() -> None:
    # Regression: the finalizer only cancelled once the group existed.
    engines = []
    for _ in range(20):
        results = tl.pmap(w.sleep_then_square, itertools.count(), backend="threads", workers=2)
        engines.append(results._engine)
        del results
    gc.collect()
    assert all(engine.finished.wait(10) for engine in engines)


def test_failure_between_two_batches_in_flight_drops_the_later_one() -> None:
    seen = []
    with pytest.raises(ValueError, match="bad item 7"):
        for r in tl.pmap(w.fail_at_7, range(10_000), backend="processes", workers=1, window=64):
            seen.append(r)
    assert seen == list(range(7))


def test_next_size_targets_a_batch_duration_and_size() -> None:
    assert _batches.next_size(0.001, 10, 1000) == round(_batches.TARGET_SECONDS / 0.0001)
    assert _batches.next_size(1.0, 1, 1000) == 1  # slow items: one at a time
    assert _batches.next_size(1e-6, 1000, 64) == 64  # capped
    assert _batches.next_size(0.0, 0, 8) == 8
    big = _batches.BATCH_BYTES // 10
    assert _batches.next_size(1e-6, 5, 1000, size_bytes=5 * big) == 10  # bounded in bytes


# -- executors ------------------------------------------------------------------


def test_a_given_executor_is_left_open() -> None:
    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        assert list(tl.pmap(w.square, range(10), backend=executor)) == [x * x for x in range(10)]
        assert executor.submit(w.square, 3).result() == 9


def test_close_waits_for_a_running_executor_batch() -> None:
    finished = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        results = tl.pmap(w.sleep_then_square, range(100), backend=executor, workers=1)
        assert next(results) == 0
        executor.submit(finished.set)  # runs only once pmap's batch is done
        results.close()
        # close() returned: pmap's batch had finished (the future was cancelled
        # or had run), so the queued marker runs right away
        assert finished.wait(5)


def test_broken_process_pool_executor_is_reported() -> None:
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=_procs_context()) as executor:
        with pytest.raises(BrokenProcessPool):
            list(tl.pmap(w.exit_at_5, range(100), backend=executor))


def test_dask_local_cluster() -> None:
    pytest.importorskip("distributed")
    root = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "tests.parallel.dask_check"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "dask ok"


# -- interpreters ---------------------------------------------------------------


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="the backend exists from 3.14")
def test_interpreters_before_3_14_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"backend='interpreters' needs Python 3.14 or later"):
        tl.pmap(w.square, range(3), backend="interpreters")


def test_interpreters_backend_uses_and_shuts_down_its_executor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[concurrent.futures.Executor] = []

    class FakeInterpreterPool(concurrent.futures.ThreadPoolExecutor):
        def __init__(self, workers: int) -> None:
            super().__init__(workers)
            made.append(self)

    monkeypatch.setattr(
        concurrent.futures, "InterpreterPoolExecutor", FakeInterpreterPool, raising=False
    )
    assert list(tl.pmap(w.square, range(20), backend="interpreters", workers=2)) == [
        x * x for x in range(20)
    ]
    assert len(made) == 1
    with pytest.raises(RuntimeError, match="after shutdown"):
        made[0].submit(w.square, 1)


def test_interpreters_errors_speak_of_interpreters(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: an unpicklable fn was said to be sent "to other processes".
    monkeypatch.setattr(
        concurrent.futures,
        "InterpreterPoolExecutor",
        concurrent.futures.ThreadPoolExecutor,  # a stand-in: no 3.14 here
        raising=False,
    )
    messages = []
    with pytest.raises(TypeError, match=r"backend='interpreters' sends fn to other interpreters"):
        tl.pmap(lambda x: x, range(3), backend="interpreters")
    for fn, items in [
        (lambda x: x, range(3)),
        (w.square, [1, threading.Lock()]),
        (w.unpicklable_result, range(5)),
        (w.fail_at_7, range(10)),
        (w.interrupt_at_7, range(10)),
    ]:
        with pytest.raises(BaseException) as info:  # any failure: its message is checked below
            list(tl.pmap(fn, items, backend="interpreters", workers=2))
        messages.append(str(info.value) + "".join(getattr(info.value, "__notes__", [])))
    assert len(messages) == 5
    for message in messages:
        assert "process" not in message, message


# -- auto -----------------------------------------------------------------------


@pytest.mark.parametrize("gil", [True, False])
def test_the_default_backend_is_threads_on_every_build(
    monkeypatch: pytest.MonkeyPatch, gil: bool
) -> None:
    # Regression: the default was "auto", which picked processes on a GIL
    # build: side effects of fn happened in children, a script needed the
    # __main__ guard, and I/O-bound work was slow.
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: gil, raising=False)
    out = list(tl.pmap(w.whoami, range(20)))
    assert {pid for pid, _ in out} == {os.getpid()}
    seen: list[int] = []
    assert list(tl.pipeline(range(5), tl.stage(seen.append))) == [None] * 5
    assert sorted(seen) == list(range(5))  # the side effects happened here


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        ("threads", min(32, (os.cpu_count() or 1) + 4)),
        ("processes", os.cpu_count() or 1),
    ],
)
def test_default_workers(backend: str, expected: int) -> None:
    with tl.pmap(w.square, range(3), backend=backend) as results:
        assert results._engine.runner.drivers == expected
    assert _backends.default_workers("interpreters") == (os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(3) as executor:
        assert _backends.default_workers(executor) == 3


def test_auto_without_gil_uses_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    assert not _backends.gil_enabled()
    results = tl.pmap(w.whoami, range(20), backend="auto")
    assert results._engine.runner.drivers == min(32, (os.cpu_count() or 1) + 4)
    assert {pid for pid, _ in results} == {os.getpid()}


def test_auto_with_gil_uses_processes_for_picklable_fn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: True, raising=False)
    out = list(tl.pmap(w.whoami, range(20), backend="auto"))
    assert os.getpid() not in {pid for pid, _ in out}


def test_auto_on_interpreters_without_the_probe_assumes_a_gil(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(sys, "_is_gil_enabled", raising=False)
    assert _backends.gil_enabled()


def test_auto_with_gil_and_unpicklable_fn_warns_once_and_uses_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: True, raising=False)
    with pytest.warns(RuntimeWarning, match="cannot be pickled.*threads will not run") as record:
        out = list(tl.pmap(lambda x: (os.getpid(), x), range(20), backend="auto"))
    assert len(record) == 1
    assert record[0].filename == __file__  # points at the caller's line
    assert {pid for pid, _ in out} == {os.getpid()}


# -- progress -------------------------------------------------------------------


def test_plain_progress_shows_count_rate_and_eta(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich.progress", None)  # as if rich were missing
    assert list(tl.pmap(w.square, range(50), backend="threads", progress=True)) == [
        x * x for x in range(50)
    ]
    err = capsys.readouterr().err
    assert "pmap: 50/50 items (100%)" in err
    assert "items/s" in err
    assert "ETA" in err


def test_plain_progress_without_a_length() -> None:
    class Stream:
        text = ""

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

    bar = _progress.PlainProgress(None, Stream())
    for _ in range(7):
        bar.advance()
    bar.close()
    bar.close()
    assert bar.stream.text.count("pmap: 7 items") == 1
    assert "elapsed" in bar.stream.text


def test_rich_progress(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("rich")
    results = tl.pmap(w.square, range(30), backend="threads", progress=True)
    assert isinstance(results._progress, _progress.RichProgress)
    assert sum(results) == sum(x * x for x in range(30))
    assert "30/30" in capsys.readouterr().err


def test_progress_stops_when_the_consumer_leaves(capsys: pytest.CaptureFixture[str]) -> None:
    with tl.pmap(w.square, itertools.count(), backend="threads", progress=True) as results:
        next(results)
    assert results._progress is None
    assert "pmap" in capsys.readouterr().err


def test_ctrl_c_in_the_consumer_stops_the_processes() -> None:
    results = tl.pmap(w.sleep_long, range(4), backend="processes", workers=2)
    time.sleep(0.5)
    pids = runner_pids(results)
    timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        next(results)
    timer.join()
    wait_gone(pids)
