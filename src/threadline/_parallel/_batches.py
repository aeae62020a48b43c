"""Running items in batches somewhere else (worker processes, an Executor).

A driver takes a batch of ready jobs, runs it remotely and delivers its
results.  The batch size adapts: the first batch has one item; after each
batch the size is set so that a batch takes about ``TARGET_SECONDS``,
never more than ``limit`` items (a share of the window), so per-batch
costs (pickling, a round trip) are amortised over cheap items while slow
items still spread over every worker.

What crosses the boundary: items and results are pickled one by one, so an
item or result that cannot be pickled fails that item alone, with a
``TypeError`` that says which.  An exception raised by ``fn`` comes back
with the worker's traceback attached as a note.
"""

from __future__ import annotations

import pickle
import time
import traceback
from collections.abc import Callable
from typing import Any

from .._channel import Channel
from .._core._scope import CancelScope
from ._engine import Engine, Job

TARGET_SECONDS = 0.02

# One item's outcome on the way back: (index, ok, pickled value or error).
Reply = tuple[int, bool, bytes]


def batch_limit(window: int, drivers: int) -> int:
    """The largest batch: half the window spread over the drivers."""
    return max(1, window // (2 * drivers))


def next_size(elapsed: float, done: int, limit: int) -> int:
    if done == 0 or elapsed <= 0:
        return limit
    per_item = elapsed / done
    return max(1, min(limit, int(TARGET_SECONDS / per_item)))


def drive_batches(
    engine: Engine,
    jobs: Channel[Job],
    limit: int,
    run: Callable[[list[tuple[int, bytes]]], tuple[float, list[Reply]]],
) -> None:
    """The driver loop shared by the process and executor backends.  *run*
    executes one pickled batch; an exception from it fails the batch's
    first item and ends this driver (its worker is gone)."""
    size = 1
    while True:
        batch = engine.take(jobs, size)
        if not batch:
            return
        first = batch[0][0]
        payload = pack_items(engine, batch)
        if not payload:
            continue
        with CancelScope() as scope:
            if not engine.begin(first, scope):
                continue
            try:
                elapsed, replies = run(payload)
            except Exception as exc:
                engine.deliver(first, False, exc)
                return
            finally:
                engine.end(first)
        if scope.cancelled_caught:
            return  # a failure before this batch: the worker was stopped
        for index, ok, data in replies:
            engine.deliver(index, *unpack_reply(index, ok, data))
        size = next_size(elapsed, len(replies), limit)


def pack_items(engine: Engine, batch: list[Job]) -> list[tuple[int, bytes]]:
    """Pickle each item; one that cannot be pickled fails on its own, and
    the batch stops before it (later items are skipped by the failure)."""
    payload = []
    for index, item in batch:
        try:
            payload.append((index, pickle.dumps(item, pickle.HIGHEST_PROTOCOL)))
        except Exception as exc:  # pickling raises many types
            error = TypeError(f"pmap item {index} ({_short(item)}) cannot be pickled: {exc}")
            engine.deliver(index, False, error)
            break
    return payload


def unpack_reply(index: int, ok: bool, data: bytes) -> tuple[bool, Any]:
    try:
        return ok, pickle.loads(data)
    except Exception as exc:  # e.g. an exception class whose __init__ is unusual
        return False, RuntimeError(f"the result of pmap item {index} could not be unpickled: {exc}")


def run_batch(
    fn: Callable[[Any], Any], payload: list[tuple[int, bytes]], current: Any = None
) -> tuple[float, list[Reply]]:
    """Run one batch where the worker is (a process, an interpreter, a
    cluster node).  Stops at the first failing item.  *current*, if given,
    is shared memory whose ``value`` is set to the running item's index."""
    replies: list[Reply] = []
    start = time.perf_counter()
    for index, data in payload:
        if current is not None:
            current.value = index
        ok, blob = run_one(fn, index, data)
        replies.append((index, ok, blob))
        if not ok:
            break
    if current is not None:
        current.value = -1
    return time.perf_counter() - start, replies


def run_one(fn: Callable[[Any], Any], index: int, data: bytes) -> tuple[bool, bytes]:
    try:
        value = fn(pickle.loads(data))
    except Exception as exc:
        return False, pickle_error(exc)
    try:
        return True, pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        error = TypeError(
            f"the result of pmap item {index} ({_short(value)}) cannot be pickled: {exc}"
        )
        return False, pickle_error(error)


def pickle_error(exc: BaseException) -> bytes:
    """Pickle *exc* with its traceback as a note; if it cannot be pickled,
    a RuntimeError that carries its type, message and traceback instead."""
    text = "".join(traceback.format_exception(exc))
    note = f"\n--- in the pmap worker ---\n{text.rstrip()}"
    exc.__traceback__ = None
    exc.add_note(note)
    try:
        return pickle.dumps(exc, pickle.HIGHEST_PROTOCOL)
    except Exception:
        stand_in = RuntimeError(f"{type(exc).__qualname__}: {exc}")
        stand_in.add_note(note)
        return pickle.dumps(stand_in, pickle.HIGHEST_PROTOCOL)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
