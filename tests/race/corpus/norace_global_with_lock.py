"""A global updated under a lock, read after join()."""

import threading

total = 0
lock = threading.Lock()


def add():
    global total
    with lock:
        total += 1


threads = [threading.Thread(target=add) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(total)
