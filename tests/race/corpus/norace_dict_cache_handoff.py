"""One thread builds entries and stores them in a plain dict, then
announces each key on a deque; readers look the entries up (``d[k]``,
``d.get``, a ``setdefault`` that finds one) and read them: the dict hands
each entry over, without a lock."""

import threading
import time
from collections import deque


class Entry:
    def __init__(self, key):
        self.key = key
        self.value = None
        self.parts = {}


cache = {}
announced = deque()


def build():
    for k in range(10):
        entry = Entry(k)
        entry.value = k * k
        entry.parts["square"] = k * k
        cache[k] = entry
        announced.append(k)
    late = Entry(99)
    late.value = 0
    cache.setdefault(99, late)
    announced.append(99)


def read():
    total = seen = 0
    while seen < 11:
        try:
            k = announced.popleft()
        except IndexError:
            time.sleep(0.0001)
            continue
        seen += 1
        entry = cache.get(k)
        total += entry.value + entry.parts["square"] + cache[k].value
        total += cache.setdefault(k, None).key
    print(total)


threads = [threading.Thread(target=build), threading.Thread(target=read)]
for t in threads:
    t.start()
for t in threads:
    t.join()
