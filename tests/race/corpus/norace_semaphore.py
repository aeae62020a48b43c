"""A semaphore of one used as a lock."""

import threading

sem = threading.BoundedSemaphore(1)


class State:
    n = 0


state = State()


def work():
    for _ in range(20):
        with sem:
            state.n += 1


threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
