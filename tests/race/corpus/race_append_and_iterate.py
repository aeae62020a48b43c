"""Two threads append objects to one list and then iterate over it: the
iteration of one is not ordered with the other's append, even though each
object it meets was handed over by that list."""

import threading
import time


class Point:
    def __init__(self, x):
        self.x = x


points = []


def add(x):
    points.append(Point(x))
    print(sum(p.x for p in points))


first = threading.Thread(target=add, args=(1,))
second = threading.Thread(target=add, args=(2,))
first.start()
time.sleep(0.05)  # a benign schedule: still a race
second.start()
first.join()
second.join()
