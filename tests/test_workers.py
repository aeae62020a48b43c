"""The cached pool of worker threads behind TaskGroup."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable

import pytest

from tests.helpers import run_python
from threadline._core import _workers
from threadline._sync import WaitGroup
from threadline._tasks import TaskGroup

HANG = 10.0  # generous guard: a wait this long means something is stuck


def wait_until(predicate: Callable[[], object], what: str, timeout: float = HANG) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.001)


def run_together(n: int) -> set[threading.Thread]:
    """Run *n* tasks that are all alive at once; return their threads."""
    arrived = WaitGroup()
    arrived.add(n)

    def meet() -> threading.Thread:
        arrived.done()
        arrived.wait(timeout=HANG)
        return threading.current_thread()

    with TaskGroup() as tg:
        tasks = [tg.go(meet) for _ in range(n)]
    threads = {t.result() for t in tasks}
    assert len(threads) == n
    return threads


def idents(threads: set[threading.Thread]) -> set[int]:
    return {t.ident for t in threads if t.ident is not None}


def test_workers_are_daemon_threads_marked_as_workers() -> None:
    def describe() -> tuple[bool, bool, int]:
        thread = threading.current_thread()
        return thread.daemon, getattr(thread, "_threadline_worker", False), thread.ident or 0

    with TaskGroup() as tg:
        t = tg.go(describe)
    daemon, marked, ident = t.result()
    assert daemon
    assert marked
    assert ident != threading.get_ident()


def test_sequential_groups_reuse_one_thread() -> None:
    idents = []
    for _ in range(30):
        with TaskGroup() as tg:
            t = tg.go(threading.get_ident)
        ident = t.result()
        idents.append(ident)
        # The worker goes back to the pool just after its task finished.
        wait_until(lambda ident=ident: ident in _workers.idle_idents(), "the worker is idle")
    assert len(set(idents)) == 1


def test_sequential_groups_without_pause_use_few_threads() -> None:
    idents = set()
    for _ in range(200):
        with TaskGroup() as tg:
            t = tg.go(threading.get_ident)
        idents.add(t.result())
    assert len(idents) <= 20  # a new thread for every group would be 200


def test_concurrent_tasks_reuse_the_idle_workers() -> None:
    first = run_together(6)
    wait_until(lambda: idents(first) <= _workers.idle_idents(), "the workers are idle")
    second = run_together(6)
    assert second == first


def test_idle_worker_thread_is_renamed() -> None:
    with TaskGroup() as tg:
        t = tg.go(threading.current_thread)
    thread = t.result()
    wait_until(lambda: thread.name == _workers.IDLE_NAME, "the idle worker is renamed")
    assert thread.is_alive()
    assert thread.ident in _workers.idle_idents()


@pytest.mark.timeout(60)
def test_idle_workers_retire(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_workers, "IDLE_SECONDS", 0.2)
    # Put every worker idle from earlier tests back to work once, so that all of
    # them go idle again under the short limit.
    threads = run_together(_workers.idle_count() + 4)
    wait_until(lambda: _workers.idle_count() == 0, "every idle worker retires", timeout=30.0)
    for thread in threads:
        thread.join(HANG)
        assert not thread.is_alive()
    # The pool starts new threads once the old ones are gone.
    with TaskGroup() as tg:
        t = tg.go(threading.current_thread)
    assert t.result() not in threads


def test_worker_popped_at_the_moment_it_would_retire_still_runs_its_job(
    monkeypatch: pytest.MonkeyPatch, tiny_switch: None
) -> None:
    monkeypatch.setattr(_workers, "IDLE_SECONDS", 0.001)
    for _ in range(300):
        with TaskGroup() as tg:
            t = tg.go(lambda: "ran")
        assert t.result() == "ran"
        time.sleep(0.001)  # let the worker reach its retirement deadline


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
@pytest.mark.timeout(60)
def test_pool_is_reset_in_a_forked_child() -> None:
    # Leave idle workers in the parent: their threads do not exist in the child.
    parent_threads = run_together(3)
    wait_until(lambda: idents(parent_threads) <= _workers.idle_idents(), "the workers are idle")

    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        status = 3
        try:
            if _workers.idle_count() != 0:
                status = 4  # the parent's idle workers were kept
            else:
                with TaskGroup() as tg:
                    t = tg.go(threading.current_thread)
                thread = t.result()
                reused = thread in parent_threads or thread is threading.current_thread()
                status = 5 if reused else 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(status)

    deadline = time.monotonic() + HANG
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung running a TaskGroup")
        time.sleep(0.01)
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 0, (
        "the child's TaskGroup misbehaved (3: raised, 4: pool not reset, 5: wrong thread)"
    )


def test_idle_pool_does_not_delay_interpreter_exit() -> None:
    """Idle workers wait IDLE_SECONDS (10 s) before retiring; exit must not wait."""
    code = (
        "import threadline as tl\n"
        "with tl.TaskGroup() as tg:\n"
        "    for i in range(20): tg.go(sum, range(i))\n"
        "print('ok')\n"
    )
    start = time.monotonic()
    done = run_python(code, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert time.monotonic() - start < _workers.IDLE_SECONDS / 2


def test_a_worker_that_finds_the_queue_emptied_under_it_goes_idle() -> None:
    """Regression (found under ThreadSanitizer, 3.13t): a finishing worker
    saw ``_pending`` non-empty under the lock, another worker popped the
    job without the lock, and the pop raised IndexError, which killed the
    worker thread and left it counted as active.  Here the check is made to
    say "non-empty" once, as that other worker's pop would leave it."""
    code = """if 1:
        import collections, sys, threading, time
        from threadline._core import _workers
        import threadline as tl

        class Emptied(collections.deque):
            lied = False
            def __bool__(self):
                if not Emptied.lied and sys._getframe(1).f_code.co_name == "_work":
                    Emptied.lied = True
                    return True
                return len(self) > 0

        _workers._pending = Emptied()
        errors = []
        threading.excepthook = lambda args: errors.append(args.exc_type.__name__)
        with tl.TaskGroup() as tg:
            task = tg.go(lambda: 42)
        deadline = time.monotonic() + 10
        while _workers.idle_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        print(task.result(), errors, _workers.idle_count(), _workers._active)
    """
    done = run_python(code, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["42", "[]", "1", "0"]
