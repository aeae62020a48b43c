"""A three-stage pipeline of threadline tasks joined by channels."""

import threadline as tl


class Item:
    def __init__(self, n: int) -> None:
        self.n = n
        self.tags: list[str] = []


def source(out: tl.Channel[Item]) -> None:
    with out:
        for n in range(5_000):
            out.send(Item(n))


def tag(inp: tl.Channel[Item], out: tl.Channel[Item]) -> None:
    with out:
        for item in inp:
            item.tags.append("even" if item.n % 2 == 0 else "odd")
            out.send(item)


def sink(inp: tl.Channel[Item]) -> int:
    return sum(1 for item in inp if item.tags[0] == "even")


a: tl.Channel[Item] = tl.Channel(64)
b: tl.Channel[Item] = tl.Channel(64)
with tl.TaskGroup() as tg:
    tg.go(source, a)
    tg.go(tag, a, b)
    evens = tg.go(sink, b)
print(evens.result())
