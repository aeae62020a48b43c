"""concurrent.futures.wait() and as_completed() order the finished tasks
before the caller, without result()."""

import concurrent.futures
from concurrent.futures import ThreadPoolExecutor, as_completed, wait


class Slots:
    def __init__(self):
        self.values = {}


slots = Slots()


def fill(i):
    slots.values[i] = i * 10


with ThreadPoolExecutor(2) as pool:
    done, _ = wait([pool.submit(fill, i) for i in range(3)])
    print(slots.values[0] + slots.values[1] + slots.values[2])
    for _ in as_completed([pool.submit(fill, 7)]):
        print(slots.values[7])
    concurrent.futures.wait([pool.submit(fill, 8)])
    print(slots.values[8])
