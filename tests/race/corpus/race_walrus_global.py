"""A global assigned with the walrus operator from two threads."""

import threading

last = None


def seen(x):
    global last
    if (last := x) is not None:
        pass


threads = [threading.Thread(target=seen, args=(i,)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
