"""Producers build job objects and hand them to consumers over a queue."""

import queue
import threading


class Job:
    def __init__(self, n: int) -> None:
        self.n = n
        self.payload = [n, n + 1, n + 2]
        self.result = 0


jobs: queue.Queue[Job | None] = queue.Queue(maxsize=256)
done: queue.Queue[int] = queue.Queue()


def produce(start: int, count: int) -> None:
    for n in range(start, start + count):
        jobs.put(Job(n))


def consume() -> None:
    total = 0
    while (job := jobs.get()) is not None:
        job.result = sum(job.payload) * 2
        total += job.result
    done.put(total)


producers = [threading.Thread(target=produce, args=(i * 10_000, 10_000)) for i in range(2)]
consumers = [threading.Thread(target=consume) for _ in range(2)]
for t in producers + consumers:
    t.start()
for t in producers:
    t.join()
for _ in consumers:
    jobs.put(None)
for t in consumers:
    t.join()
print(done.get() + done.get())
