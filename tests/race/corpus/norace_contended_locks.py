"""Threads queue on a Lock and an RLock held across a sleep, so every
``with`` finds its lock taken (the detector's yield-then-block path)."""

import threading
import time


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.rlock = threading.RLock()
        self.count = 0
        self.names = {}


def work(stats, name):
    for i in range(5):
        with stats.lock as got:
            assert got is True
            stats.count += 1
            time.sleep(0.002)
        with stats.rlock, stats.rlock:  # re-entered while held
            stats.names[name] = i
            time.sleep(0.002)


stats = Stats()
threads = [threading.Thread(target=work, args=(stats, n)) for n in "abcd"]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(stats.count, sorted(stats.names.items()))
