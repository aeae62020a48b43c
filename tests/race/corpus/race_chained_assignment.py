"""A chained assignment `a.x = b.x = v` in two threads."""

import threading


class Slot:
    x = 0


a, b = Slot(), Slot()


def set_both(v):
    a.x = b.x = v


threads = [threading.Thread(target=set_both, args=(i,)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
