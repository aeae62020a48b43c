"""A worker calls task_done() before recording its result: join() returns
before the write, and the read after it races with it."""

import queue
import threading


class Result:
    value = None


result = Result()
jobs = queue.Queue()
written = threading.Event()


def worker():
    n = jobs.get()
    jobs.task_done()
    result.value = n * n  # after task_done: join() does not wait for this
    written.set()


threading.Thread(target=worker, daemon=True).start()
jobs.put(3)
jobs.join()
print(result.value)
written.wait()
