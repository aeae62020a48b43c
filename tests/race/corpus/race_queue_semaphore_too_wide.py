"""Queue(maxsize=2) as a semaphore lets two threads in at once: their
critical sections are not ordered."""

import queue
import threading


class Shared:
    count = 0


shared = Shared()
slot = queue.Queue(maxsize=2)
both_in = threading.Barrier(2)


def work():
    slot.put(None)
    both_in.wait()  # both are inside: no get came before either put
    shared.count += 1
    slot.get()


threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(shared.count)
