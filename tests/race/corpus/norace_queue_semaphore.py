"""Queue(maxsize=1) as a semaphore: put; critical section; get.  The k-th
get happens before the (k+1)-th put returns, so the sections are ordered."""

import queue
import threading


class Shared:
    count = 0


shared = Shared()
slot = queue.Queue(maxsize=1)


def work():
    for _ in range(20):
        slot.put(None)
        shared.count += 1
        slot.get()


threads = [threading.Thread(target=work) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(shared.count)
