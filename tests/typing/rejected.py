"""Code that mypy must reject (``mypy --strict``): see test_typing.py.

Each line marked ``# E: code`` must get an error with that code, and no
other line may get one.  Nothing here runs.
"""

from __future__ import annotations

import threadline as tl


def parse(text: str, base: int = 10) -> int:
    return int(text, base)


async def fetch(url: str) -> bytes:
    return url.encode()


def tasks(ch: tl.Channel[str]) -> None:
    with tl.TaskGroup() as tg:
        tg.go(parse)  # E: call-overload
        tg.go(parse, 12)  # E: call-overload
        tg.go(parse, "12", 10, 2)  # E: call-overload
        tg.go(parse, "12", bass=16)  # E: call-arg, arg-type
        tg.go(fetch)  # E: call-overload
        t: tl.Task[str] = tg.go(parse, "12")  # E: call-overload
        tg.go(ch.send, 1)  # E: call-overload
        tg.go(ch.recv, 5.0)  # E: call-overload
    t.result(1)  # E: call-arg
    t.exception(1)  # E: call-arg
    t.add_done_callback(parse)  # E: arg-type


def timeouts(a: tl.Channel[int]) -> None:
    a.send(1, 2)  # E: call-arg
    a.recv(2)  # E: call-arg
    tl.WaitGroup().wait(3)  # E: call-arg


def selects(a: tl.Channel[int], b: tl.Channel[str]) -> None:
    tl.select(5)  # E: call-overload
    tl.select((a, "not an int"))  # E: misc
    only_str: tl.Selected[str] = tl.select(a)  # E: arg-type
    never_none: int = tl.select(a).value  # E: assignment
    never_none_either: int | str = tl.select(a, b).value  # E: assignment
    print(only_str, never_none, never_none_either)


def pipelines(lines: list[str]) -> None:
    tl.pipeline(lines, tl.stage(len), tl.stage(str.upper))  # E: misc
    tl.pipeline([1, 2], tl.stage(str.upper))  # E: misc
    upper: tl.Pipeline[int] = tl.pipeline(lines, tl.stage(str.upper))  # E: arg-type
    print(upper)
