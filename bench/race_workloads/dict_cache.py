"""Threads share a memoising cache: lookups and inserts under a lock."""

import threading


class Cache:
    def __init__(self) -> None:
        self.data: dict[int, int] = {}
        self.lock = threading.Lock()
        self.hits = 0

    def get(self, key: int) -> int:
        with self.lock:
            if key in self.data:
                self.hits += 1
                return self.data[key]
        value = key * key % 7919
        with self.lock:
            self.data[key] = value
        return value


cache = Cache()


def work(seed: int) -> None:
    for i in range(15_000):
        cache.get((i * seed) % 2_000)


threads = [threading.Thread(target=work, args=(s,)) for s in (3, 5, 7, 11)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(cache.hits)
