"""Running items in batches somewhere else (worker processes, interpreters,
an Executor).

A driver takes a batch from the engine, sends it to its worker and
delivers the worker's reply as one chunk.  The batch size adapts: the
first batch has one item; after each batch the size is set so that a batch
takes about ``TARGET_SECONDS`` and pickles to about ``BATCH_BYTES`` (items
and results together), never more than ``MAX_ITEMS`` items.  So per-batch
costs (a round trip) are amortised over cheap items, slow items still
spread over every worker, and the memory a batch holds stays bounded; the
window counts batches.

What crosses the boundary: a batch's items are pickled as one list, and
its results come back as one list; when a list cannot be pickled, the
items (or results) are pickled one by one to find the first that cannot,
which fails that item alone with a ``TypeError`` that says which.  An
exception raised by ``fn`` (of any kind, ``KeyboardInterrupt`` included)
fails its item and comes back with the worker's traceback attached as a
note.
"""

from __future__ import annotations

import math
import pickle
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from .._errors import Cancelled, ChannelClosed
from ._engine import Driver, Engine

TARGET_SECONDS = 0.02
BATCH_BYTES = 256 * 1024
MAX_ITEMS = 4096
DEPTH = 2
_PROTOCOL = pickle.HIGHEST_PROTOCOL


def next_size(
    elapsed: float,
    done: int,
    limit: int,
    *,
    target: float = TARGET_SECONDS,
    size_bytes: int = 0,
) -> int:
    """The next batch size after *done* items took *elapsed* seconds and
    *size_bytes* pickled, at most *limit*."""
    if done <= 0:
        return limit
    size = limit
    if elapsed > 0:
        size = min(size, int(target * done / elapsed))
    if size_bytes > 0:
        size = min(size, int(BATCH_BYTES * done / size_bytes))
    return max(1, size)


class Remote(Protocol):
    """Where batches run: ``send`` queues one, ``receive`` waits for the
    oldest one's reply (bytes made by ``run_batch``).  An exception from
    either means the worker is gone."""

    def send(self, first: int, items: list[Any], payload: bytes) -> None: ...

    def receive(self) -> bytes: ...


def drive_batches(engine: Engine, driver: Driver, remote: Remote) -> None:
    """The driver loop shared by the process, interpreter and executor
    backends: batches come from the engine's feeder (``engine.jobs``).

    Up to ``DEPTH`` batches are in flight, so the worker starts the next
    batch while this thread is still handling the last reply.  The engine
    cancels this driver (its scope) when an item before its oldest batch in
    flight fails; the caller then stops the worker.  A failure between two
    batches in flight lets the older one finish and drops the younger one.
    A batch that cannot be sent while others are in flight (the worker is
    gone) waits for them: they report the loss, or it goes to a new worker."""
    jobs = engine.jobs
    inflight: deque[tuple[int, int]] = deque()  # (first index, payload bytes), oldest first
    held: tuple[int, list[Any], bytes] | None = None
    closed = False
    while True:
        while not closed and held is None and len(inflight) < DEPTH:
            try:
                if inflight:
                    batch, ok = jobs.try_recv()
                    if not ok or batch is None:
                        break
                else:
                    batch = jobs.recv()
            except ChannelClosed:
                closed = True
                break
            first, items = batch
            if not engine.begin(driver, first):
                closed = True  # after a failure: so is every later batch
                break
            payload, count, error = pack_items(first, items)
            if error is not None:  # item first + count cannot be pickled
                oldest = inflight[0][0] if inflight else first if count else math.inf
                engine.deliver(driver, first + count, [], error, cost=0, oldest=oldest)
                closed = True
                if not count:
                    break
            held = (first, items[:count], payload)
            if _send(engine, driver, remote, held, inflight):
                held = None
            elif not inflight:
                return  # delivered as the batch's own failure
        if not inflight:
            if held is not None:
                if not _send(engine, driver, remote, held, inflight):
                    return
                held = None
                continue
            if closed:
                return
            continue
        first, sent_bytes = inflight[0]
        try:
            blob = remote.receive()
        except Exception as exc:
            engine.deliver(driver, first, [], exc)
            return
        inflight.popleft()
        oldest = inflight[0][0] if inflight else held[0] if held else math.inf
        elapsed, values, error = unpack_reply(first, blob)
        size = next_size(elapsed, len(values), MAX_ITEMS, size_bytes=sent_bytes + len(blob))
        engine.deliver(driver, first, values, error, oldest=oldest, next_size=size)
        if error is not None or engine.failed < oldest:
            return  # the younger batches, if any, are after a failure: dropped


def _send(
    engine: Engine,
    driver: Driver,
    remote: Remote,
    batch: tuple[int, list[Any], bytes],
    inflight: deque[tuple[int, int]],
) -> bool:
    """Send *batch*; False if the worker is gone.  With nothing in flight
    that failure is the batch's own and is delivered here; otherwise the
    caller lets the batches in flight report it first."""
    first, items, payload = batch
    try:
        remote.send(first, items, payload)
    except Exception as exc:
        if not inflight:
            engine.deliver(driver, first, [], exc)
        return False
    inflight.append((first, len(payload)))
    return True


def pack_items(first: int, items: list[Any]) -> tuple[bytes, int, BaseException | None]:
    """The items pickled as one list: ``(payload, count, error)``.  If one
    cannot be pickled, *payload* holds the *count* items before it and
    *error* is the ``TypeError`` for it."""
    try:
        return pickle.dumps(items, _PROTOCOL), len(items), None
    except Exception as exc:  # pickling raises many types
        count, error = _first_unpicklable(items, exc)
    message = f"pmap item {first + count} ({_short(items[count])}) cannot be pickled: {error}"
    return pickle.dumps(items[:count], _PROTOCOL), count, TypeError(message)


def _first_unpicklable(values: list[Any], whole: Exception) -> tuple[int, Exception]:
    """The position of the first value that cannot be pickled on its own
    and why (the first, if each can, but not the list: too deep, say)."""
    for position, value in enumerate(values):
        try:
            pickle.dumps(value, _PROTOCOL)
        except Exception as exc:
            return position, exc
    return 0, whole


def run_batch(fn: Callable[[Any], Any], first: int, payload: bytes, current: Any = None) -> bytes:
    """Run one batch where the worker is (a process, an interpreter, a
    cluster node); the reply, pickled: ``(elapsed, values, error)``, where
    *error* is the pickled exception of item ``first + len(values)`` or
    None.  Stops at the first failing item.  *current*, if given, is a
    one-slot shared array set to the running item's index."""
    items = pickle.loads(payload)
    values: list[Any] = []
    append = values.append
    error = None
    start = time.perf_counter()
    try:
        if current is None:
            for item in items:
                append(fn(item))
        else:
            for index, item in enumerate(items, first):
                current[0] = index
                append(fn(item))
    except BaseException as exc:  # KeyboardInterrupt too: that item's failure
        error = pickle_error(exc)
    elapsed = time.perf_counter() - start
    if current is not None:
        current[0] = -1
    try:
        return pickle.dumps((elapsed, values, error), _PROTOCOL)
    except Exception as exc:  # a result that cannot be pickled
        position, why = _first_unpicklable(values, exc)
        value = values[position]
        failure = TypeError(
            f"the result of pmap item {first + position} ({_short(value)}) cannot be pickled: {why}"
        )
        return pickle.dumps((elapsed, values[:position], pickle_error(failure)), _PROTOCOL)


def unpack_reply(first: int, blob: bytes) -> tuple[float, list[Any], BaseException | None]:
    try:
        elapsed, values, error_bytes = pickle.loads(blob)
    except Exception as exc:  # a result whose class is missing here, say
        error = RuntimeError(
            f"the results of the pmap batch from item {first} could not be unpickled: {exc}"
        )
        return 0.0, [], error
    if error_bytes is None:
        return elapsed, values, None
    index = first + len(values)
    try:
        error = pickle.loads(error_bytes)
    except Exception as exc:  # e.g. an exception class whose __init__ is unusual
        error = RuntimeError(f"the result of pmap item {index} could not be unpickled: {exc}")
    return elapsed, values, error


def pickle_error(exc: BaseException) -> bytes:
    """Pickle *exc* with its traceback as a note; if it cannot be pickled,
    a RuntimeError that carries its type, message and traceback instead."""
    text = "".join(traceback.format_exception(exc))
    note = f"\n--- in the pmap worker ---\n{text.rstrip()}"
    exc.__traceback__ = None
    exc.add_note(note)
    if isinstance(exc, Cancelled):
        exc._scope = None  # a scope of the worker's: meaningless here
    try:
        return pickle.dumps(exc, _PROTOCOL)
    except Exception:
        stand_in = RuntimeError(f"{type(exc).__qualname__}: {exc}")
        stand_in.add_note(note)
        return pickle.dumps(stand_in, _PROTOCOL)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
