"""LifoQueue and PriorityQueue match each get with its own put: a getter is
ordered after the producer of the item it got (and the sender never
touches it again)."""

import queue
import threading


class Item:
    def __init__(self, n):
        self.n = n
        self.log = []

    def __lt__(self, other):
        return self.n < other.n


for make in (queue.LifoQueue, queue.PriorityQueue, queue.SimpleQueue):
    q = make()

    def produce(n):
        item = Item(n)
        item.log.append(n)
        q.put(item)

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for _ in range(4):
        got = q.get()
        got.log.append("got")
    for t in threads:
        t.join()
