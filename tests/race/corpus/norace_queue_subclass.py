"""A Queue subclass with storage of its own: its _put, _get and _qsize run
under the queue's mutex, so they do not race with each other."""

import queue
import threading


class Newest(queue.Queue):
    def _init(self, maxsize):
        self.items = []

    def _qsize(self):
        return len(self.items)

    def _put(self, item):
        self.items.append(item)

    def _get(self):
        return self.items.pop()


class Job:
    def __init__(self, n):
        self.n = n


jobs = Newest()


def produce(n):
    jobs.put(Job(n))


threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
total = 0
for _ in range(4):
    job = jobs.get()
    job.n += 1
    total += job.n
for t in threads:
    t.join()
print(total, jobs.qsize())
