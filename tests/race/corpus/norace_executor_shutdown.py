"""Leaving ``with ThreadPoolExecutor`` (and shutdown(wait=True)) waits for
every task: reading what they wrote afterwards is ordered."""

from concurrent.futures import ThreadPoolExecutor


class Out:
    def __init__(self):
        self.done = 0


outs = [Out() for _ in range(8)]


def task(out):
    out.done += 1


with ThreadPoolExecutor(3) as pool:
    for out in outs:
        pool.submit(task, out)
print(sum(out.done for out in outs))

pool = ThreadPoolExecutor(2)
for out in outs:
    pool.submit(task, out)
pool.shutdown(wait=True)
print(sum(out.done for out in outs))
