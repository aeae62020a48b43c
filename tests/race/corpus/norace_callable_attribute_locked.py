"""A callback stored on an object under a lock and called under it."""

import threading


class Registry:
    def __init__(self):
        self.lock = threading.Lock()
        self.handler = None

    def handle(self, value):
        return value


reg = Registry()


def install():
    with reg.lock:
        reg.handler = reg.handle


t = threading.Thread(target=install)
t.start()
t.join()
for _ in range(3):
    with reg.lock:
        h = reg.handler
        if h is not None:
            reg.handler(1)
