"""An object built, put on a queue and never touched again by its sender."""

import queue
import threading


class Job:
    def __init__(self, n):
        self.n = n
        self.result = None


jobs = queue.Queue()
results = queue.Queue()


def worker():
    while True:
        job = jobs.get()
        if job is None:
            return
        job.result = job.n * 2
        results.put(job)


t = threading.Thread(target=worker)
t.start()
for i in range(5):
    jobs.put(Job(i))
jobs.put(None)
for _ in range(5):
    print(results.get().result)
t.join()
