"""shutdown(wait=False) does not wait for the tasks: reading what one
writes races with it."""

from concurrent.futures import ThreadPoolExecutor


class Out:
    done = 0


out = Out()


def task():
    out.done += 1


pool = ThreadPoolExecutor(1)
pool.submit(task)
pool.shutdown(wait=False)
print(out.done)
