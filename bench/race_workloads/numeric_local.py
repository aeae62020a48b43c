"""Threads crunch numbers in local variables; little shared state."""

import threading

results: list[float] = []
lock = threading.Lock()


def crunch(seed: int) -> None:
    x = float(seed)
    total = 0.0
    for i in range(200_000):
        x = (x * 1.000001 + i) % 1000.0
        total += x
    with lock:
        results.append(total)


threads = [threading.Thread(target=crunch, args=(s,)) for s in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(results))
