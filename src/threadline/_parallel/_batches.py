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
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from .._channel import Channel
from .._core._scope import CancelScope
from ._engine import Engine, Job

TARGET_SECONDS = 0.02
DEPTH = 2
PREFETCH_BYTES = 8 * 1024  # fits any pipe or socket buffer (macOS: 8 KiB)

# One item's outcome on the way back: (index, ok, pickled value or error).
Reply = tuple[int, bool, bytes]


def batch_limit(window: int, drivers: int) -> int:
    """The largest batch: with ``DEPTH`` batches in flight per driver, the
    batches in flight fill at most DEPTH / (DEPTH + 1) of the window, so the
    feeder always has room to prepare the next batches."""
    return max(1, window // (drivers * (DEPTH + 1)))


def next_size(elapsed: float, done: int, limit: int) -> int:
    if done == 0 or elapsed <= 0:
        return limit
    per_item = elapsed / done
    return max(1, min(limit, int(TARGET_SECONDS / per_item)))


class Remote(Protocol):
    """Where batches run: ``send`` queues one, ``receive`` waits for the
    oldest one's reply.  An exception from either means the worker is gone."""

    def send(self, payload: list[tuple[int, bytes]]) -> None: ...

    def receive(self) -> tuple[float, list[Reply]]: ...


def drive_batches(engine: Engine, jobs: Channel[Job], limit: int, remote: Remote) -> None:
    """The driver loop shared by the process and executor backends.

    Up to ``DEPTH`` batches are in flight, so the worker starts the next
    batch while this thread is still waking up for the last reply.  The
    driver's scope is registered under its oldest batch in flight: a
    failure before that batch cancels the driver (its worker is stopped); a
    failure between two batches in flight lets the older one finish and
    drops the younger one.  A batch bigger than ``PREFETCH_BYTES`` waits
    until nothing is in flight, so the sender never blocks on a full pipe
    while the worker blocks sending a reply."""
    size = 1
    inflight: deque[int] = deque()  # the first index of each batch sent
    held: list[tuple[int, bytes]] | None = None  # to send once nothing is in flight
    closed = False
    while True:
        while not closed and held is None and len(inflight) < DEPTH:
            batch = engine.take(jobs, size, block=not inflight)
            if batch is None:
                closed = True
            if not batch:
                break
            payload = pack_items(engine, batch)
            if not payload:
                continue
            if inflight and sum(len(data) for _, data in payload) > PREFETCH_BYTES:
                held = payload
                break
            if not _send(engine, remote, payload, inflight):
                # the worker is gone: the batches in flight report it first
                held = payload
                break
        if not inflight:
            if held is not None:
                payload, held = held, None
                if not _send(engine, remote, payload, inflight):
                    return
                continue
            if closed:
                return
            continue
        first = inflight[0]
        with CancelScope() as scope:
            if not engine.begin(first, scope):
                return  # a failure before every batch in flight
            try:
                elapsed, replies = remote.receive()
            except Exception as exc:
                engine.deliver(first, False, exc)
                return
            finally:
                engine.end(first)
        if scope.cancelled_caught:
            return  # a failure before this batch: the worker is stopped
        inflight.popleft()
        engine.deliver_all([(index, *unpack_reply(index, ok, data)) for index, ok, data in replies])
        size = next_size(elapsed, len(replies), limit)


def _send(
    engine: Engine, remote: Remote, payload: list[tuple[int, bytes]], inflight: deque[int]
) -> bool:
    """Send *payload*; False if the worker is gone.  With nothing in flight
    that failure is the payload's own and is delivered here; otherwise the
    caller reports it through the batches in flight, oldest first."""
    try:
        remote.send(payload)
    except Exception as exc:
        if not inflight:
            engine.deliver(payload[0][0], False, exc)
        return False
    inflight.append(payload[0][0])
    return True


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
