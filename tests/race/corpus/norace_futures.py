"""submit() orders the caller before the task; result() orders the task
before the caller; map() likewise."""

from concurrent.futures import ThreadPoolExecutor, as_completed


class Acc:
    def __init__(self):
        self.values = {}


acc = Acc()
acc.values["start"] = 0


def task(i):
    acc.values[i] = acc.values["start"] + i
    return i


with ThreadPoolExecutor(2) as pool:
    first = pool.submit(task, 1)
    first.result()
    second = pool.submit(task, 2)
    second.result()
    print(acc.values[1], acc.values[2])
    for f in as_completed([pool.submit(task, 3)]):
        f.result()
    print(acc.values[3])
    print(list(pool.map(abs, [-1, -2])))
