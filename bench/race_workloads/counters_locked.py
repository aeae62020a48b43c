"""Four threads bump shared counters under a lock."""

import threading


class Stats:
    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.lock = threading.Lock()


def work(stats: Stats, n: int) -> None:
    for i in range(n):
        with stats.lock:
            if i % 3:
                stats.hits += 1
            else:
                stats.misses += 1


stats = Stats()
threads = [threading.Thread(target=work, args=(stats, 20_000)) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert stats.hits + stats.misses == 80_000
