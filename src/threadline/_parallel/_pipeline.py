"""pipeline: stages of pmap joined end to end.

    source ─▶ pmap(stage 1) ─▶ pmap(stage 2) ─▶ ... ─▶ consumer

Each stage is a ``pmap`` whose input is the previous stage's output, so
every join is bounded by the next stage's window, a failure anywhere stops
the stages before it and reaches the consumer after every earlier result
(the failing stage's feeder sees it as its input failing), and closing the
pipeline closes every stage, last to first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar, overload

from ._backends import check_backend
from ._pmap import PMap, check_ordered, check_window, check_workers, pmap

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")
E = TypeVar("E")
R = TypeVar("R")
In_contra = TypeVar("In_contra", contravariant=True)  # a stage takes these...
Out_co = TypeVar("Out_co", covariant=True)  # ...and gives these, as a function does


@dataclass(frozen=True)
class Stage(Generic[In_contra, Out_co]):
    """One step of a pipeline: ``fn`` applied by ``workers`` workers
    (``Stage[In, Out]``: it turns items of type In into results of type Out)."""

    fn: Callable[[In_contra], Out_co]
    workers: int | None = None
    ordered: bool = True
    window: int | None = None
    backend: Any = "threads"


def stage(
    fn: Callable[[A], B],
    *,
    workers: int | None = None,
    ordered: bool = True,
    window: int | None = None,
    backend: Any = "threads",
) -> Stage[A, B]:
    """Describe a pipeline stage (arguments as for ``pmap``)."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    check_workers(workers)
    check_window(window)
    check_ordered(ordered)
    check_backend(backend)
    return Stage(fn, workers, ordered, window, backend)


class Pipeline(Generic[R]):
    """The iterator that ``pipeline`` returns: the last stage's results."""

    def __init__(self, source: Iterable[Any], stages: tuple[Stage[Any, Any], ...]) -> None:
        self._stages: list[PMap[Any]] = []
        upstream: Iterable[Any] = source
        try:
            for step in stages:
                mapped = pmap(
                    step.fn,
                    upstream,
                    workers=step.workers,
                    ordered=step.ordered,
                    window=step.window,
                    backend=step.backend,
                )
                self._stages.append(mapped)
                upstream = mapped
        except BaseException:
            self.close()
            raise

    def __iter__(self) -> Iterator[R]:
        return self

    def __next__(self) -> R:
        try:
            return next(self._stages[-1])  # type: ignore[no-any-return]
        except StopIteration:
            raise
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop every stage; returns once no stage function is running."""
        for mapped in reversed(self._stages):
            mapped.close()

    def __enter__(self) -> Pipeline[R]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# Typed stage by stage up to four stages (each stage's input is the previous
# one's output, and the pipeline yields the last one's); longer ones, Any.
@overload
def pipeline(source: Iterable[A], s1: Stage[A, B], /) -> Pipeline[B]: ...
@overload
def pipeline(source: Iterable[A], s1: Stage[A, B], s2: Stage[B, C], /) -> Pipeline[C]: ...
@overload
def pipeline(
    source: Iterable[A], s1: Stage[A, B], s2: Stage[B, C], s3: Stage[C, D], /
) -> Pipeline[D]: ...
@overload
def pipeline(
    source: Iterable[A], s1: Stage[A, B], s2: Stage[B, C], s3: Stage[C, D], s4: Stage[D, E], /
) -> Pipeline[E]: ...
@overload
def pipeline(
    source: Iterable[Any],
    s1: Stage[Any, Any],
    s2: Stage[Any, Any],
    s3: Stage[Any, Any],
    s4: Stage[Any, Any],
    /,
    *more: Stage[Any, Any],
) -> Pipeline[Any]: ...
def pipeline(source: Iterable[Any], *stages: Stage[Any, Any]) -> Pipeline[Any]:
    """Run *source* through *stages* (made with ``tl.stage``), each in
    parallel, lazily and bounded; iterate over the result."""
    if not stages:
        raise ValueError("pipeline needs at least one stage, got none")
    for position, step in enumerate(stages):
        if not isinstance(step, Stage):
            raise TypeError(f"pipeline stage {position} must come from tl.stage(), got {step!r}")
    return Pipeline(source, stages)
