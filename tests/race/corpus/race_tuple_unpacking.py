"""Tuple-unpacking into attributes from two threads."""

import threading


class Point:
    def __init__(self):
        self.x = self.y = 0


p = Point()


def move(dx):
    p.x, p.y = p.x + dx, p.y + dx


threads = [threading.Thread(target=move, args=(i,)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
