"""collections.UserDict is not instrumented (the standard library never
is): its call sites are recorded, so an unlocked read-modify-write of one
key from two threads is reported."""

import threading
from collections import UserDict

stats = UserDict(hits=0)


def work():
    for _ in range(20):
        stats["hits"] += 1


threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
