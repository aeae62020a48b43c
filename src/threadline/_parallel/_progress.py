"""pmap's progress display on stderr: rich's bar when rich is installed
(``pip install threadline[progress]``), else a plain one-line fallback.

Only the consumer thread calls ``advance`` and ``close``; redraws are
throttled so a fast map does not spend its time drawing.  No lock.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol

_REDRAW_SECONDS = 0.2


class Progress(Protocol):
    def advance(self) -> None: ...

    def close(self) -> None: ...


def start(total: int | None) -> Progress:
    try:
        import rich.progress  # noqa: F401, PLC0415 - an optional extra
    except ImportError:
        return PlainProgress(total)
    return RichProgress(total)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class PlainProgress:
    """``pmap: 120/1000 items (12%) | 45.1 items/s | ETA 0:00:19``, redrawn
    in place on a terminal, a line every few seconds otherwise."""

    def __init__(self, total: int | None, stream: Any = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = _REDRAW_SECONDS if self.tty else 5.0
        self.done = 0
        self.started = time.monotonic()
        self.drawn = self.started
        self.closed = False

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total is None:
            return f"pmap: {self.done} items | {rate:.1f} items/s | {_clock(elapsed)} elapsed"
        percent = 100 * self.done // max(self.total, 1)
        left = self.total - self.done
        eta = _clock(left / rate) if rate > 0 else "?"
        return f"pmap: {self.done}/{self.total} items ({percent}%) | {rate:.1f} items/s | ETA {eta}"

    def advance(self) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self.drawn >= self.interval:
            self.drawn = now
            self._draw(now, final=False)

    def _draw(self, now: float, *, final: bool) -> None:
        text = self.line(now)
        end = "\n" if final or not self.tty else ""
        self.stream.write(("\r" if self.tty else "") + text + end)
        self.stream.flush()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._draw(time.monotonic(), final=True)


class RichProgress:
    """rich's progress bar on stderr, refreshed by the consumer (no thread)."""

    def __init__(self, total: int | None) -> None:
        from rich.console import Console  # noqa: PLC0415 - an optional extra
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar  # noqa: PLC0415

        self.bar = Bar(
            TextColumn("pmap"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]} items/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            auto_refresh=False,
            transient=False,
        )
        self.task = self.bar.add_task("pmap", total=total, rate="-")
        self.started = time.monotonic()
        self.drawn = self.started
        self.done = 0
        self.closed = False
        self.bar.start()

    def advance(self) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self.drawn >= _REDRAW_SECONDS:
            self.drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.started, 1e-9)
        self.bar.update(self.task, completed=self.done, rate=f"{rate:.1f}")
        self.bar.refresh()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._draw(time.monotonic())
            self.bar.stop()
