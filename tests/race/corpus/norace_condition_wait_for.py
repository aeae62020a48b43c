"""Condition.wait_for: the predicate reads shared state with the lock held."""

import threading


class Box:
    def __init__(self):
        self.items = []
        self.closed = False


box = Box()
cond = threading.Condition()


def consume():
    with cond:
        cond.wait_for(lambda: box.closed or len(box.items) >= 3)
        print(len(box.items))


t = threading.Thread(target=consume)
t.start()
for i in range(3):
    with cond:
        box.items.append(i)
        cond.notify_all()
with cond:
    box.closed = True
    cond.notify_all()
t.join()
