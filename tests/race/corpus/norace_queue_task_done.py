"""Workers record results, then task_done(); join() returns after every
task_done, so reading the results after it is ordered."""

import queue
import threading

jobs = queue.Queue()
results = {}


def worker():
    while True:
        n = jobs.get()
        results[n] = n * n
        jobs.task_done()


for _ in range(3):
    threading.Thread(target=worker, daemon=True).start()
for n in range(10):
    jobs.put(n)
jobs.join()
print(sum(results.values()))
