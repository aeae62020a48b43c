"""Code that must type-check (``mypy --strict``): see test_typing.py.

Each ``assert_type`` pins down what mypy infers; nothing here runs.
"""

from __future__ import annotations

from typing import assert_type

import threadline as tl


def parse(text: str, base: int = 10) -> int:
    return int(text, base)


async def fetch(url: str) -> bytes:
    return url.encode()


def on_done(task: tl.Task[int]) -> None:
    pass


def tasks(ch: tl.Channel[str]) -> None:
    with tl.TaskGroup() as tg:
        t = tg.go(parse, "12")
        assert_type(t, tl.Task[int])
        assert_type(tg.go(parse, "ff", base=16), tl.Task[int])
        assert_type(tg.go(parse, text="7"), tl.Task[int])
        assert_type(tg.go(fetch, "https://example.org"), tl.Task[bytes])  # a coroutine's result
        assert_type(tg.go(lambda: 3.5), tl.Task[float])
        assert_type(tg.go(ch.recv), tl.Task[str])
        assert_type(tg.go(ch.recv, timeout=1.0), tl.Task[str])
        assert_type(tg.go(ch.send, "x", timeout=None), tl.Task[None])
        t.add_done_callback(on_done)
        t.add_done_callback(lambda task: print(task.name))
    assert_type(t.result(), int)
    assert_type(t.result(timeout=2), int)
    assert_type(t.exception(timeout=0), BaseException | None)


async def awaiting(t: tl.Task[bytes]) -> None:
    assert_type(await t, bytes)


def channels(a: tl.Channel[int]) -> None:
    a.send(1, timeout=0.5)
    assert_type(a.recv(timeout=None), int)
    assert_type(a.try_recv(), tuple[int | None, bool])
    for v in a:
        assert_type(v, int)


async def async_channels(a: tl.Channel[int]) -> None:
    await a.asend(1, timeout=1)
    assert_type(await a.arecv(timeout=1), int)


def selects(a: tl.Channel[int], b: tl.Channel[str], c: tl.Channel[bytes]) -> None:
    assert_type(tl.select(a), tl.Selected[int])
    assert_type(tl.select(a, b, timeout=1.0), tl.Selected[int | str])
    assert_type(tl.select(a, (b, "sent"), None), tl.Selected[int])  # a send adds nothing
    assert_type(tl.select(a, b, c, (a, 1), (None, 2)), tl.Selected[int | str | bytes])
    sel = tl.select(a, b)
    assert_type(sel.value, int | str | None)  # None: a send, or a closed channel
    assert_type(sel.index, int)
    assert_type(sel.ok, bool)
    assert_type(tl.try_select(a, b), tl.Selected[int | str] | None)
    many = [a, a, a, a, a, a, a]
    assert_type(tl.select(*many), tl.Selected[int])


async def async_selects(a: tl.Channel[int], b: tl.Channel[str]) -> None:
    assert_type(await tl.aselect(a, b, timeout=1), tl.Selected[int | str])


def scopes() -> None:
    with tl.move_on_after(1.0) as scope:
        tl.sleep(0.1)
    assert_type(scope.cancelled_caught, bool)
    with tl.timeout(None) as deadline:
        tl.checkpoint()
    assert_type(deadline, tl.CancelScope)


def sync() -> None:
    wg = tl.WaitGroup()
    wg.wait(timeout=1)
    g = tl.Guarded([1])
    with g as items:
        assert_type(items, list[int])


def pipelines(lines: list[str]) -> None:
    lengths = tl.pipeline(lines, tl.stage(len), tl.stage(float, workers=2))
    assert_type(lengths, tl.Pipeline[float])
    for x in lengths:
        assert_type(x, float)
    assert_type(tl.pipeline(lines, tl.stage(str.upper)), tl.Pipeline[str])
    assert_type(tl.stage(str.split), tl.Stage[str, list[str]])
