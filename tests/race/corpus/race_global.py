"""A module global updated from two threads through `global`."""

import threading

total = 0


def add():
    global total
    for _ in range(50):
        total += 1


threads = [threading.Thread(target=add) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
