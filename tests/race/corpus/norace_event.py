"""Data written before Event.set(), read after wait()."""

import threading


class Box:
    data = None


box = Box()
ready = threading.Event()


def produce():
    box.data = [1, 2, 3]
    ready.set()


t = threading.Thread(target=produce)
t.start()
ready.wait()
print(box.data)
t.join()
