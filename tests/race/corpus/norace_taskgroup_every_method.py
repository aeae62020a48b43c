"""Task.exception(), await task, done() and done callbacks are ordered
after the task; Guarded.update/get and WaitGroup.add(-1) are edges too."""

import asyncio
import threading

import threadline as tl


class State:
    a = 0
    b = 0
    c = 0


state = State()
seen = []


def set_a():
    state.a = 1


def set_b():
    state.b = 1
    raise ValueError("b")


def set_c():
    state.c = 1
    return 3


with tl.TaskGroup() as tg:
    ta = tg.go(set_a)
    tc = tg.go(set_c)
    tc.add_done_callback(lambda t: seen.append(state.c))
    ta.result()
    print(state.a)

try:
    with tl.TaskGroup() as tg:
        tb = tg.go(set_b)
        while not tb.done():
            tl.sleep(0.001)
        print(state.b)
        print(type(tb.exception()).__name__, state.b)
except* ValueError:
    pass


async def main():
    with tl.TaskGroup() as tg:
        t = tg.go(set_a)
        await t
        print(state.a)


asyncio.run(main())

counter = tl.Guarded(0)
wg = tl.WaitGroup()
box = State()


def bump():
    def inc(n):
        box.a += 1  # under the Guarded's lock
        return n + 1

    counter.update(inc)
    counter.get()
    wg.add(-1)


wg.add(2)
threads = [threading.Thread(target=bump) for _ in range(2)]
for t in threads:
    t.start()
wg.wait()
print(counter.get(), box.a)
for t in threads:
    t.join()
