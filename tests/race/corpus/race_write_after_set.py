"""The writer changes data after set(): the reader's access is not ordered
after that change."""

import threading


class Shared:
    value = 0


shared = Shared()
ready = threading.Event()


def writer():
    shared.value = 1
    ready.set()
    shared.value = 2


t = threading.Thread(target=writer)
t.start()
ready.wait()
print(shared.value)
t.join()
