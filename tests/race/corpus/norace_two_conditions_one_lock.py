"""Two conditions on one lock (as queue.Queue has): what one orders, the
other sees, and so does the lock itself."""

import threading

lock = threading.Lock()
not_empty = threading.Condition(lock)
not_full = threading.Condition(lock)
items = []


class Stats:
    produced = 0
    consumed = 0


stats = Stats()


def produce():
    for n in range(20):
        with not_full:
            while len(items) >= 2:
                not_full.wait()
            items.append(n)
            stats.produced += 1
            not_empty.notify()


def consume():
    for _ in range(20):
        with not_empty:
            not_empty.wait_for(lambda: items)
            items.pop(0)
            stats.consumed += 1
            print(stats.produced)
            not_full.notify()
    with lock:
        print(stats.produced, stats.consumed)
    not_full.acquire()
    stats.consumed += 0
    not_full.release()


threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
for t in threads:
    t.start()
for t in threads:
    t.join()
