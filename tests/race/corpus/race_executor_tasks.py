"""Two tasks on a thread pool write the same attribute (while both run: a
worker thread runs its tasks one after another, which would order them)."""

import threading
from concurrent.futures import ThreadPoolExecutor


class Total:
    value = 0


total = Total()
started = [threading.Event(), threading.Event()]


def add(n):
    started[n].set()
    started[1 - n].wait(10)  # both run at once, on two workers
    total.value = total.value + n


with ThreadPoolExecutor(2) as pool:
    futures = [pool.submit(add, i) for i in range(2)]
    for f in futures:
        f.result()
