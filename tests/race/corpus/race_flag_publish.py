"""A result published with a plain flag: the reader's access is not
ordered after the writer's (no lock, no event)."""

import threading
import time


class Box:
    def __init__(self):
        self.ready = False
        self.data = None


box = Box()


def produce():
    box.data = [1, 2, 3]
    box.ready = True


t = threading.Thread(target=produce)
t.start()
while not box.ready:
    time.sleep(0.001)
print(box.data)
t.join()
