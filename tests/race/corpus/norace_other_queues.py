"""SimpleQueue, LifoQueue and PriorityQueue hand objects over too."""

import queue
import threading


class Item:
    def __init__(self, n):
        self.n = n

    def __lt__(self, other):
        return self.n < other.n


for make in (queue.SimpleQueue, queue.LifoQueue, queue.PriorityQueue):
    q = make()

    def produce():
        item = Item(1)
        item.n = 2
        q.put(item)

    t = threading.Thread(target=produce)
    t.start()
    got = q.get()
    got.n += 1
    t.join()
