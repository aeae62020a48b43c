"""Producers fill in job objects and append them to a deque; consumers
popleft them and read their fields: the deque hands each job over."""

import threading
import time
from collections import deque


class Job:
    def __init__(self, n):
        self.n = n
        self.tags = []


jobs = deque()
results = deque()


def produce(start):
    for n in range(start, start + 20):
        job = Job(n)
        job.n = n * 2  # written before the append: ordered with the consumer's reads
        job.tags.append("new")
        jobs.append((n, job))


def consume(count):
    done = 0
    while done < count:
        try:
            n, job = jobs.popleft()
        except IndexError:
            time.sleep(0.0001)
            continue
        assert job.n == n * 2
        for tag in job.tags:
            assert tag == "new"
        job.result = len(job.tags)
        results.append(job)
        done += 1


threads = [threading.Thread(target=produce, args=(s,)) for s in (0, 100)]
threads += [threading.Thread(target=consume, args=(20,)) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sum(job.result for job in results))
