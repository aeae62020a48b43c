"""Threads sort and summarise their own lists, then publish the results
into a shared dict under a lock."""

import random
import threading

summary: dict[int, tuple[int, int, int]] = {}
lock = threading.Lock()


def process(worker: int) -> None:
    rng = random.Random(worker)
    data = [rng.randrange(1_000_000) for _ in range(40_000)]
    data.sort()
    top = data[-10:]
    result = (data[0], data[len(data) // 2], sum(top))
    with lock:
        summary[worker] = result


threads = [threading.Thread(target=process, args=(w,)) for w in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sorted(summary))
