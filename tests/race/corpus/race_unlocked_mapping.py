"""A mapping class without a lock of its own, used by two threads: its
__setitem__ and __getitem__ race on the dict inside."""

import threading


class PlainMap:
    def __init__(self):
        self._data = {}

    def __getitem__(self, key):
        return self._data[key]

    def __setitem__(self, key, value):
        self._data[key] = value


shared = PlainMap()
shared["seen"] = 0


def work():
    for i in range(20):
        shared["seen"] = shared["seen"] + i


threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
